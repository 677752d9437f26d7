/**
 * `sdapi engines check [--engines FILE]`: the start-up checks of `serve` and `worker` as a report (one line per
 * problem), then a table of what each engine offers and where it runs, and this install's runtime. Exit 0 when
 * every engine is ready, 2 otherwise.
 */
import { Command } from 'commander';
import { checkEngineRegistry, type EngineCheckReport } from '../../composition/engines-check.ts';
import { loadConfig } from '../../config/load-config.ts';
import type { CliContext } from '../cli-context.ts';
import { ExitCode } from '../cli-error.ts';
import type { Io } from '../io.ts';
import { applyEngineOptions, deviceName, type EngineOptions } from '../options.ts';

export function enginesCommand(ctx: CliContext): Command {
  const engines = new Command('engines').description('inspect the engine registry');
  engines
    .command('check')
    .description('check every engine as serve and worker do at start, then list what each offers')
    .option('--engines <file>', 'the engine registry (default: SDAPI_ENGINES, else the demo engines on SDAPI_MODEL_DIR)')
    .option('--device <device>', 'cpu, cuda or cuda:N (default: SDAPI_DEVICE or cpu)', deviceName)
    .option('--load', 'also create each model’s ONNX sessions, as a worker does at start')
    .action(async (options: EngineOptions & { load?: boolean }) => {
      const config = applyEngineOptions(loadConfig(ctx.env), options);
      const report = await checkEngineRegistry(config, { load: options.load });
      printReport(ctx.io, report);
      if (report.problems.length > 0) throw new ExitCode(2);
    });
  return engines;
}

export function printReport(io: Io, report: EngineCheckReport): void {
  for (const problem of report.problems) io.err(`sdapi engines check: ${problem}`);
  for (const warning of report.warnings) io.err(`sdapi engines check: warning: ${warning}`);
  const ready = report.problems.length === 0;
  io.out(`${report.source}: ${report.rows.length} engine${report.rows.length === 1 ? '' : 's'}${ready ? ', all ready' : `, ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}`}`);
  if (report.rows.length > 0) {
    const header = ['ID', 'ALIASES', 'MODEL', 'FAMILY', 'NATIVE', 'MULTIPLE', 'SIZES', 'STEPS', 'CFG', 'SAMPLERS', 'UPSCALE', 'DEVICE'];
    const rows = report.rows.map(({ engine: e, requestedDevice, device }) => [
      e.id,
      e.aliases.join(',') || '-',
      e.model.dir,
      e.model.family,
      `${e.model.nativeWidth}x${e.model.nativeHeight}`,
      String(e.model.latentMultiple),
      String(e.resolutions.length),
      `${e.steps.min}-${e.steps.max} (${e.steps.default})`,
      `${e.cfg.min}-${e.cfg.max} (${e.cfg.default})`,
      `${e.samplers.join(',')} (${e.defaultSampler})`,
      e.upscale ? 'yes' : 'no',
      device === requestedDevice ? device : `${device} (asked ${requestedDevice})`,
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    for (const row of [header, ...rows]) io.out(row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join('  '));
  }
  const { node, runtime } = report.runtime;
  const providers = runtime.providers.map((p) => `${p.name} (${p.bundled ? 'bundled' : p.installed ? 'installed' : 'not installed'})`).join(', ');
  io.out(`node ${node}, onnxruntime-node ${runtime.onnxruntimeNode}, execution providers: ${providers}`);
}
