/** What every command gets from main(): where to write, the environment to configure from, and test-only overrides. */
import type { RuntimeOverrides } from '../composition/runtime.ts';
import type { EnvSource } from '../config/env-schema.ts';
import type { Config } from '../config/load-config.ts';
import type { Io } from './io.ts';

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
