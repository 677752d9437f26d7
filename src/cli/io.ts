/** Where a command writes: stdout for results (a token, file paths), stderr for messages and progress. */
export interface Io {
  out(line: string): void;
  err(line: string): void;
  /** The raw error stream, for a progress bar that redraws one line (only when it is a TTY). */
  errStream: { isTTY?: boolean; write(chunk: string): unknown };
}

export const processIo: Io = {
  out: (line) => void process.stdout.write(`${line}\n`),
  err: (line) => void process.stderr.write(`${line}\n`),
  errStream: process.stderr,
};
