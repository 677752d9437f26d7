/** `sdapi worker`: the runtime and generation workers only (no HTTP), against the shared store, queue and storage. */
import type { Logger } from 'pino';
import type { Config } from '../config/load-config.ts';
import type { JobWorker } from '../worker/job-worker.ts';
import { createLogger } from './logger.ts';
import { createWorker, openRuntime, type Runtime, type RuntimeOverrides } from './runtime.ts';
import { checkRedisAtStart } from './startup-checks.ts';

export interface RunningWorker {
  runtime: Runtime;
  worker: JobWorker;
  logger: Logger;
  /** Hands running jobs back to the queue, then releases everything. */
  close(): Promise<void>;
}

export async function startWorkerProcess(config: Config, options: { concurrency: number; overrides?: RuntimeOverrides; logger?: Logger }): Promise<RunningWorker> {
  const logger = options.logger ?? createLogger(config);
  const runtime = await openRuntime(config, options.overrides);
  await checkRedisAtStart(runtime, logger);
  const worker = createWorker(runtime, { concurrency: options.concurrency, logger });
  try {
    await worker.start();
  } catch (err) {
    await runtime.close().catch(() => undefined);
    throw err;
  }
  if (!config.publicUrlConfigured) {
    logger.warn({ publicUrl: config.publicUrl }, 'SDAPI_PUBLIC_URL is not set: image URLs written by this worker assume the API listens on HOST:PORT of this environment');
  }
  let closing: Promise<void> | undefined;
  return {
    runtime,
    worker,
    logger,
    close: () =>
      (closing ??= (async () => {
        try {
          await worker.stop();
        } finally {
          await runtime.close();
        }
      })()),
  };
}
