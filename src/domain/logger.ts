/** The operational log the services and the worker write to (pino's signature: fields first, then the message). */
export interface OperationalLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLogger: OperationalLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };
