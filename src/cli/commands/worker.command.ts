/**
 * `sdapi worker [--concurrency N]`: generation workers only (no HTTP) against the shared store, queue and storage
 * named by the environment, until SIGINT/SIGTERM; a job running at SIGTERM is handed back to the queue. The worker
 * serves (and claims the jobs of) the engines of its registry only, so machines can split engines between them.
 */
import { Command } from 'commander';
import { describeStorage } from '../../composition/runtime.ts';
import { startWorkerProcess } from '../../composition/worker-process.ts';
import { loadConfig } from '../../config/load-config.ts';
import { announceStore, serveUntilStopped, type CliContext } from '../cli-context.ts';
import { applyEngineOptions, deviceName, integerIn, type EngineOptions } from '../options.ts';

export function workerCommand(ctx: CliContext): Command {
  return new Command('worker')
    .description('run generation workers only (shared database, queue and image storage) until SIGINT/SIGTERM')
    .option('--concurrency <n>', 'jobs run at the same time (default: SDAPI_WORKERS, at least 1)', integerIn(1, 64))
    .option('--engines <file>', 'the engines this worker serves (default: SDAPI_ENGINES, else the demo engines on SDAPI_MODEL_DIR)')
    .option('--device <device>', 'cpu, cuda or cuda:N (default: SDAPI_DEVICE or cpu; an engine’s "device" wins)', deviceName)
    .option('--lazy', 'load each model on its first job instead of at start')
    .action(async (options: EngineOptions & { concurrency?: number; lazy?: boolean }) => {
      const config = applyEngineOptions(loadConfig(ctx.env), options);
      announceStore(ctx, config);
      const concurrency = options.concurrency ?? Math.max(1, config.workers);
      const running = await startWorkerProcess(config, { concurrency, lazy: options.lazy, overrides: ctx.overrides });
      const { engines } = running.runtime.services;
      running.logger.info(
        {
          owner: running.runtime.queue.owner,
          concurrency,
          engines: engines.list().map((e) => `${e.id} (${running.runtime.generator.deviceFor({ dir: e.model.dir, device: e.device })})`),
          modelMemoryBytes: config.modelMemoryBytes,
          database: running.runtime.store.dialect,
          queue: config.queueUrl ? 'redis' : 'embedded',
          dataDir: config.dataDir,
          storage: describeStorage(config),
        },
        'sdapi worker is running',
      );
      await serveUntilStopped(running.logger, () => running.close());
    });
}
