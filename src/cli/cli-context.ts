/** What every command gets from main(): where to write, the environment to configure from, and test-only overrides. */
import type { RuntimeOverrides } from '../composition/runtime.ts';
import type { EnvSource } from '../config/env-schema.ts';
import type { Config } from '../config/load-config.ts';
import type { Io } from './io.ts';
import type { Logger } from 'pino';

export interface CliContext {
  io: Io;
  /** The process environment over the .env file (see readEnvironment()). */
  env: EnvSource;
  /** The .env file that was read, if any. */
  envFile?: string;
  /** Parts of the runtime to replace (test entry scripts only; the sdapi binary passes none). */
  overrides?: RuntimeOverrides;
}

/** Resolves on the first SIGINT or SIGTERM, with its name. */
export function untilStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(signal);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

/** A graceful stop that takes longer is cut short (orchestrators send SIGKILL after 30 s by default). */
const STOP_DEADLINE_MS = 20_000;
/** After a stop, how long a leftover handle (a client library's keep-alive socket, say) may hold the process. */
const LINGER_MS = 2_000;

/**
 * Waits for SIGINT/SIGTERM, then runs `close` (a second signal, or the deadline, exits at once with code 1), and
 * makes sure the process ends afterwards even when a library left a handle open, naming what it was.
 */
export async function serveUntilStopped(logger: Logger, close: () => Promise<void>, deadlineMs = STOP_DEADLINE_MS): Promise<void> {
  const signal = await untilStopSignal();
  logger.info({ signal }, 'stopping');
  const started = Date.now();
  const forceExit = (reason: string) => {
    logger.error({ ms: Date.now() - started, open: process.getActiveResourcesInfo() }, reason);
    process.exit(1);
  };
  const again = () => forceExit('stopped at once by a second signal');
  process.once('SIGINT', again);
  process.once('SIGTERM', again);
  // Not unref'd: a close() waiting on a promise that holds no handle must still end at the deadline.
  const deadline = setTimeout(() => forceExit(`did not stop within ${deadlineMs / 1000} s`), deadlineMs);
  try {
    await close().catch((err: unknown) => logger.error({ err }, 'error while stopping'));
  } finally {
    clearTimeout(deadline);
    process.off('SIGINT', again);
    process.off('SIGTERM', again);
  }
  logger.info({ ms: Date.now() - started }, 'stopped');
  // Unref'd: it fires only if something else still holds the event loop.
  setTimeout(() => {
    logger.warn({ open: process.getActiveResourcesInfo() }, `still open ${LINGER_MS / 1000} s after stopping; exiting`);
    process.exit();
  }, LINGER_MS).unref();
}

/** A database URL fit to print: the password of a postgres:// URL is masked. */
export function displayDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) {
      parsed.password = '***';
      return parsed.toString();
    }
  } catch {
    // sqlite:<path> is not a URL with credentials
  }
  return url;
}

/**
 * Says on stderr which settings file and database a command uses, so a token made with `sdapi tokens create` against
 * one data directory is not a mystery 401 from a server started on another.
 */
export function announceStore(ctx: CliContext, config: Pick<Config, 'databaseUrl'>): void {
  if (ctx.envFile) ctx.io.err(`sdapi: read settings from ${ctx.envFile}`);
  ctx.io.err(`sdapi: using database ${displayDatabaseUrl(config.databaseUrl)}`);
}
