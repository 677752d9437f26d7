/** `sdapi serve [--workers N]`: the API, the web UI and N in-process generation workers, until SIGINT/SIGTERM. */
import { Command } from 'commander';
import { describeStorage } from '../../composition/runtime.ts';
import { startServer } from '../../composition/server.ts';
import { loadConfig } from '../../config/load-config.ts';
import { announceStore, serveUntilStopped, type CliContext } from '../cli-context.ts';
import { applyEngineOptions, deviceName, integerIn, type EngineOptions } from '../options.ts';

export function serveCommand(ctx: CliContext): Command {
  return new Command('serve')
    .description('run the API, the web UI and N generation workers until SIGINT/SIGTERM')
    .option('--workers <n>', 'in-process generation workers, 0 = API only (default: SDAPI_WORKERS or 1)', integerIn(0, 64))
    .option('--engines <file>', 'the engine registry (default: SDAPI_ENGINES, else the demo engines on SDAPI_MODEL_DIR)')
    .option('--device <device>', 'cpu, cuda or cuda:N for the in-process workers (default: SDAPI_DEVICE or cpu)', deviceName)
    .option('--lazy', 'in-process workers load each model on its first job instead of at start')
    .action(async (options: EngineOptions & { workers?: number; lazy?: boolean }) => {
      const config = applyEngineOptions(loadConfig(ctx.env), options);
      announceStore(ctx, config);
      if (options.workers !== undefined) config.workers = options.workers;
      const server = await startServer(config, { overrides: ctx.overrides, lazy: options.lazy });
      server.logger.info(
        {
          url: server.url,
          dataDir: config.dataDir,
          storage: describeStorage(config),
          engines: server.runtime.services.engines.ids(),
          registry: config.enginesFile ?? `default engines on ${config.defaultModelDir}`,
          workers: config.workers,
          database: server.runtime.store.dialect,
          queue: config.queueUrl ? 'redis' : 'embedded',
        },
        'sdapi is serving',
      );
      await serveUntilStopped(server.logger, () => server.close());
    });
}
