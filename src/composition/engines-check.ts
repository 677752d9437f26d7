/**
 * `sdapi engines check`: what `sdapi serve` and `sdapi worker` check at start, as a report — the registry's problems,
 * each engine as it resolved (with the device it would run on here), and this install's runtime. With `load`, each
 * model's sessions are created too, as a worker does at start.
 */
import type { Config } from '../config/load-config.ts';
import { normalDevice } from '../domain/devices.ts';
import { StartupError } from '../domain/errors.ts';
import { modelTarget } from '../services/generation/engine-catalog.ts';
import { planDevices, runtimeReport } from '../services/generation/device-plan.ts';
import { EngineThreadGenerator } from '../services/generation/engine-generator.ts';
import { checkEngines, registrySource, type Engine } from '../services/generation/engine-registry.ts';
import { registryOptions } from './runtime.ts';

export interface EngineCheckRow {
  engine: Engine;
  /** The device it asks for, and the one it gets in this process. */
  requestedDevice: string;
  device: string;
}

export interface EngineCheckReport {
  /** Where the registry came from (the file, or the default engines). */
  source: string;
  problems: string[];
  warnings: string[];
  rows: EngineCheckRow[];
  runtime: ReturnType<typeof runtimeReport>;
}

export async function checkEngineRegistry(config: Config, options: { load?: boolean; threads?: number } = {}): Promise<EngineCheckReport> {
  const runtime = runtimeReport();
  let source;
  try {
    source = await registrySource(registryOptions(config));
  } catch (err) {
    if (err instanceof StartupError) return { source: config.enginesFile ?? config.defaultModelDir, problems: [...err.problems], warnings: [], rows: [], runtime };
    throw err;
  }
  const { engines, problems } = await checkEngines(source, { device: config.device });
  const warnings: string[] = [];
  let planned: Engine[];
  try {
    const plan = planDevices(engines, { strict: config.deviceStrict, runtime: runtime.runtime });
    planned = plan.engines;
    warnings.push(...plan.warnings);
  } catch (err) {
    if (!(err instanceof StartupError)) throw err;
    problems.push(...err.problems);
    planned = engines;
  }
  const rows: EngineCheckRow[] = planned.map((engine, i) => ({ engine, requestedDevice: normalDevice(engines[i].device), device: engine.device }));
  if (options.load && problems.length === 0) {
    const generator = new EngineThreadGenerator({ strictDevice: config.deviceStrict, threads: options.threads, warn: (message) => warnings.push(message) });
    try {
      const devices = new Map<string, string>();
      for (const row of rows) {
        const target = modelTarget(row.engine);
        const key = `${target.dir}\u0000${target.device}`;
        if (!devices.has(key)) {
          try {
            devices.set(key, await generator.preload(target));
          } catch (err) {
            devices.set(key, 'failed');
            problems.push(`${source.label}: engine ${JSON.stringify(row.engine.id)}: cannot load the model ${target.dir} on ${target.device}: ${err instanceof Error ? err.message : String(err)}`);
          }
        }
        row.device = devices.get(key) ?? row.device;
      }
    } finally {
      await generator.close();
    }
  }
  return { source: source.label, problems, warnings, rows, runtime };
}
