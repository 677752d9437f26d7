/** The process logger (pino): the HTTP app and the worker write through the same one. */
import pino, { type Logger } from 'pino';
import type { Config } from '../config/load-config.ts';

export function createLogger(config: Pick<Config, 'logLevel'>): Logger {
  return pino({ level: config.logLevel });
}
