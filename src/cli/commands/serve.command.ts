/** `sdapi serve [--workers N]`: the API, the web UI and N in-process generation workers, until SIGINT/SIGTERM. */
import { Command } from 'commander';
import { startServer } from '../../composition/server.ts';
import { loadConfig } from '../../config/load-config.ts';
import { announceStore, untilStopSignal, type CliContext } from '../cli-context.ts';
import { integerIn } from '../options.ts';

export function serveCommand(ctx: CliContext): Command {
  return new Command('serve')
    .description('run the API, the web UI and N generation workers until SIGINT/SIGTERM')
    .option('--workers <n>', 'in-process generation workers, 0 = API only (default: SDAPI_WORKERS or 1)', integerIn(0, 64))
    .action(async (options: { workers?: number }) => {
      const config = loadConfig(ctx.env);
      announceStore(ctx, config);
      if (options.workers !== undefined) config.workers = options.workers;
      const server = await startServer(config, { overrides: ctx.overrides });
      server.logger.info(
        { url: server.url, dataDir: config.dataDir, model: config.defaultModelDir, workers: config.workers, database: server.runtime.store.dialect, queue: config.queueUrl ? 'redis' : 'embedded' },
        'sdapi is serving',
      );
      const signal = await untilStopSignal();
      server.logger.info({ signal }, 'stopping');
      await server.close().catch((err: unknown) => server.logger.error({ err }, 'error while stopping'));
    });
}
