/**
 * A configuration that cannot run: invalid environment variables or command-line options that feed the
 * configuration. Never an HTTP error: the CLI prints it as one line and exits with code 2.
 */
export class ConfigError extends Error {
  constructor(
    message: string,
    /** Each invalid variable with what is wrong with it. */
    readonly problems: readonly string[] = [message],
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}
