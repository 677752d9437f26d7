/**
 * The process logger (pino): the HTTP app and the worker write through the same one. On a terminal the lines are
 * made readable by pino-pretty (time, level, message, then the fields); anywhere else (a file, a pipe, a log
 * collector) they are JSON, one object a line. LOG_FORMAT=pretty|json chooses either way.
 */
import { createRequire } from 'node:module';
import pino, { type DestinationStream, type Logger } from 'pino';
import type { PrettyOptions } from 'pino-pretty';
import type { Config } from '../config/load-config.ts';

export interface LogOutput {
  write(chunk: string): unknown;
  isTTY?: boolean;
}

/** pretty or json: LOG_FORMAT, or (auto) pretty exactly when the output is a terminal. */
export function logFormatFor(format: Config['logFormat'], output: { isTTY?: boolean }): 'pretty' | 'json' {
  if (format === 'auto') return output.isTTY ? 'pretty' : 'json';
  return format;
}

export function createLogger(config: Pick<Config, 'logLevel' | 'logFormat'>, output: LogOutput = process.stdout): Logger {
  if (logFormatFor(config.logFormat, output) === 'json') {
    return output === process.stdout ? pino({ level: config.logLevel }) : pino({ level: config.logLevel }, output as DestinationStream);
  }
  // Loaded only when used: JSON logging (servers, CI) does not pay for it. Formatted in this thread, line by line.
  const { prettyFactory } = createRequire(import.meta.url)('pino-pretty') as { prettyFactory: (options: PrettyOptions) => (line: string) => string };
  const format = prettyFactory({ colorize: output.isTTY === true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
  return pino({ level: config.logLevel }, { write: (line: string) => void output.write(format(line)) });
}
