/** A mistake in the command line the commands find themselves (beyond what the parser checks): exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
