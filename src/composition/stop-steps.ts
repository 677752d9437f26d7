/** The ordered steps of a graceful stop, each named, so that a stop that hangs says in the log what it waits for. */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';

export type StopStep = readonly [name: string, run: () => Promise<unknown> | unknown];

/** A step that takes longer than this is named in a warning (it goes on; the caller's deadline cuts it short). */
const SLOW_STEP_MS = 3_000;

/** Runs every step in order, even after one fails, and then rethrows the first failure. */
export async function runStopSteps(logger: Logger, steps: readonly StopStep[], slowMs = SLOW_STEP_MS): Promise<void> {
  let failure: { err: unknown } | undefined;
  for (const [name, run] of steps) {
    const started = Date.now();
    const slow = setTimeout(() => logger.warn({ step: name, ms: Date.now() - started }, `stopping: still waiting for ${name}`), slowMs);
    slow.unref();
    try {
      await run();
    } catch (err) {
      failure ??= { err };
    } finally {
      clearTimeout(slow);
    }
  }
  if (failure) throw failure.err;
}

/** How long a stopping server waits for responses still being sent before it cuts their connections. */
const HTTP_GRACE_MS = 10_000;

/**
 * Closes the HTTP server: no new connections, idle keep-alive connections closed, responses in progress finished.
 * A response whose client stopped reading (a large body never consumed) would hold the stop for as long as the
 * client lives, so after `graceMs` the connections still open are cut.
 */
export async function closeHttpServer(app: FastifyInstance, logger: Logger, graceMs = HTTP_GRACE_MS): Promise<void> {
  const cut = setTimeout(() => {
    logger.warn({ graceMs }, 'stopping: cutting the HTTP connections still open');
    app.server.closeAllConnections();
  }, graceMs);
  cut.unref();
  try {
    await app.close();
  } finally {
    clearTimeout(cut);
  }
}
