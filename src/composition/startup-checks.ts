/**
 * What `sdapi serve` and `sdapi worker` check and start besides their main work: a Redis that does not answer is
 * logged at start (otherwise the only symptom would be workers quietly polling the database every 5 s), and the
 * API process sweeps stale rows periodically (services/ops/housekeeping.ts).
 */
import type { Logger } from 'pino';
import type { Runtime } from './runtime.ts';

/** Logs an error when SDAPI_QUEUE_URL names a Redis that does not answer within `timeoutMs`; never throws. */
export async function checkRedisAtStart(runtime: Runtime, logger: Logger, timeoutMs = 3000): Promise<boolean> {
  const url = runtime.config.queueUrl;
  const ping = runtime.notifier.ping?.bind(runtime.notifier);
  if (!url || !ping) return true;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([ping(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)))]);
    return true;
  } catch (err) {
    logger.error(
      { redis: withoutPassword(url), err: err instanceof Error ? err.message : String(err) },
      'Redis (SDAPI_QUEUE_URL) does not answer: workers fall back to polling the database every 5 s, rate limits are counted per process, and /readyz reports redis failed',
    );
    return false;
  } finally {
    clearTimeout(timer);
  }
}

function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'redis://…';
  }
}

/** Image files the storage did not delete when asked (it was away): batch after batch while it keeps deleting. */
export async function retryFileDeletions(runtime: Runtime, logger: Logger, maxBatches = 100): Promise<void> {
  try {
    let deleted = 0;
    let pending = 0;
    for (let batch = 0; batch < maxBatches; batch++) {
      const result = await runtime.services.files.retry();
      deleted += result.deleted;
      pending = result.pending;
      if (result.deleted === 0 || result.pending === 0) break;
    }
    if (deleted > 0) logger.info({ deleted, pending }, 'deleted image files left behind by a storage outage');
    if (pending > 0) logger.warn({ pending }, 'image files are still waiting to be deleted (the storage refuses or is away); retried at the next housekeeping');
  } catch (err) {
    logger.error({ err }, 'retrying image file deletions failed');
  }
}

export const HOUSEKEEPING_INTERVAL_MS = 60 * 60_000;

/** Sweeps once now and then every `intervalMs`; the returned stop() waits for a sweep in progress. Failures are logged, never thrown. */
export function startHousekeeping(runtime: Runtime, logger: Logger, intervalMs = HOUSEKEEPING_INTERVAL_MS): () => Promise<void> {
  let running: Promise<void> | undefined;
  const sweep = () => {
    running ??= runtime.services.housekeeping
      .sweep()
      .then((purged) => {
        if (Object.values(purged).some((n) => n > 0)) logger.info({ purged }, 'housekeeping');
      })
      .catch((err: unknown) => logger.error({ err }, 'housekeeping failed'))
      .then(() => retryFileDeletions(runtime, logger))
      .finally(() => (running = undefined));
  };
  sweep();
  const timer = setInterval(sweep, intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
