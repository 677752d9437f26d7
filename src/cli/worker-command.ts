/**
 * `sdapi worker [--concurrency N]`: runs only generation workers (no HTTP) against the shared store, queue
 * and storage named by the environment (SDAPI_DATABASE_URL, SDAPI_QUEUE_URL, SDAPI_DATA_DIR), until
 * SIGINT/SIGTERM; a job running at SIGTERM is handed back to the queue. Scale out with one per GPU/machine.
 */
import pino from 'pino';
import { loadConfig } from '../config.ts';
import { AppError } from '../services/errors.ts';
import { createServices } from '../services/index.ts';
import { openStore } from '../store/database.ts';
import { GenerationWorker, heartbeatFor } from '../worker/generation-worker.ts';
import { parseFlags } from './args.ts';

export async function runWorker(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, ['concurrency']);
  const config = loadConfig();
  let concurrency = config.workers > 0 ? config.workers : 1;
  if (flags.concurrency !== undefined) {
    concurrency = Number(flags.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
      throw new AppError('validation_failed', `--concurrency must be an integer between 1 and 64, got "${flags.concurrency}"`);
    }
  }
  const log = pino({ level: config.logLevel });
  const debugJobDelayMs = Number(process.env.SDAPI_DEBUG_JOB_DELAY_MS ?? 0) || 0;
  const store = await openStore(config.databaseUrl);
  const services = createServices(store, config);
  const worker = new GenerationWorker(
    { jobs: services.jobs, generation: services.generation },
    { concurrency, logger: log, debugJobDelayMs, heartbeatMs: heartbeatFor(config.jobLeaseMs) },
  );
  try {
    await worker.start();
  } catch (err) {
    await services.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    throw err;
  }
  log.info(
    { owner: services.jobs.owner, concurrency, database: store.dialect, queue: config.queueUrl ? 'redis' : 'embedded', dataDir: config.dataDir, model: config.defaultModelDir },
    'sdapi worker is running',
  );
  if (!process.env.SDAPI_PUBLIC_URL) {
    log.warn({ publicUrl: config.publicUrl }, 'SDAPI_PUBLIC_URL is not set: image URLs written by this worker assume the API listens on HOST:PORT of this environment');
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'stopping');
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  try {
    await worker.stop();
  } finally {
    await services.close().catch((err) => log.error({ err }, 'error while stopping'));
    await store.close().catch(() => undefined);
  }
  return 0;
}

