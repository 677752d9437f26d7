/** `sdapi worker`: the runtime and generation workers only (no HTTP), against the shared store, queue and storage. */
import { runStopSteps } from './stop-steps.ts';
import type { Logger } from 'pino';
import type { Config } from '../config/load-config.ts';
import { createLogger } from './logger.ts';
import { openRuntime, type Runtime, type RuntimeOverrides } from './runtime.ts';
import { startGenerationWorkers, type GenerationWorkers } from './generation-workers.ts';
import { checkRedisAtStart } from './startup-checks.ts';

export interface RunningWorker {
  runtime: Runtime;
  workers: GenerationWorkers;
  logger: Logger;
  /** Hands running jobs back to the queue, then releases everything. */
  close(): Promise<void>;
}

export async function startWorkerProcess(
  config: Config,
  options: { concurrency: number; lazy?: boolean; overrides?: RuntimeOverrides; logger?: Logger },
): Promise<RunningWorker> {
  const logger = options.logger ?? createLogger(config);
  const runtime = await openRuntime(config, options.overrides, { logger });
  await checkRedisAtStart(runtime, logger);
  let workers: GenerationWorkers;
  try {
    workers = await startGenerationWorkers(runtime, { concurrency: options.concurrency, lazy: options.lazy });
  } catch (err) {
    await runtime.close().catch(() => undefined);
    throw err;
  }
  runtime.services.sweeper.start();
  runtime.services.webhookDispatcher.start();
  if (!config.publicUrlConfigured) {
    logger.warn({ publicUrl: config.publicUrl }, 'SDAPI_PUBLIC_URL is not set: image URLs written by this worker assume the API listens on HOST:PORT of this environment');
  }
  let closing: Promise<void> | undefined;
  return {
    runtime,
    workers,
    logger,
    close: () =>
      (closing ??= runStopSteps(logger, [
        ['the workers', () => workers.stop()],
        ['the runtime', () => runtime.close()],
      ])),
  };
}
