/** What every command gets from main(): where to write, the environment to configure from, and test-only overrides. */
import type { RuntimeOverrides } from '../composition/runtime.ts';
import type { EnvSource } from '../config/env-schema.ts';
import type { Io } from './io.ts';

export interface CliContext {
  io: Io;
  env: EnvSource;
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
