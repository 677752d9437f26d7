/** A mistake in the command line the commands find themselves (beyond what the parser checks): exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The command already reported what went wrong (e.g. a check's findings): exit with `code`, print nothing more. */
export class ExitCode extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
    this.name = 'ExitCode';
  }
}
