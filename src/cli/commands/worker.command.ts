/**
 * `sdapi worker [--concurrency N]`: generation workers only (no HTTP) against the shared store, queue and storage
 * named by the environment, until SIGINT/SIGTERM; a job running at SIGTERM is handed back to the queue.
 */
import { Command } from 'commander';
import { startWorkerProcess } from '../../composition/worker-process.ts';
import { loadConfig } from '../../config/load-config.ts';
import { announceStore, untilStopSignal, type CliContext } from '../cli-context.ts';
import { integerIn } from '../options.ts';

export function workerCommand(ctx: CliContext): Command {
  return new Command('worker')
    .description('run generation workers only (shared database, queue and data directory) until SIGINT/SIGTERM')
    .option('--concurrency <n>', 'jobs run at the same time (default: SDAPI_WORKERS, at least 1)', integerIn(1, 64))
    .action(async (options: { concurrency?: number }) => {
      const config = loadConfig(ctx.env);
      announceStore(ctx, config);
      const concurrency = options.concurrency ?? Math.max(1, config.workers);
      const running = await startWorkerProcess(config, { concurrency, overrides: ctx.overrides });
      running.logger.info(
        { owner: running.runtime.queue.owner, concurrency, database: running.runtime.store.dialect, queue: config.queueUrl ? 'redis' : 'embedded', dataDir: config.dataDir, model: config.defaultModelDir },
        'sdapi worker is running',
      );
      const signal = await untilStopSignal();
      running.logger.info({ signal }, 'stopping');
      await running.close().catch((err: unknown) => running.logger.error({ err }, 'error while stopping'));
    });
}
