/** Stable error codes of the engine library; the service maps them to HTTP statuses. */
export type EngineErrorCode =
  | 'invalid_argument'
  | 'model_invalid'
  | 'model_not_found'
  | 'cancelled'
  | 'runtime_error'
  /** A CUDA device was requested with strictDevice and cannot be used. */
  | 'device_unavailable';

/**
 * The one error type the engine throws on purpose. `code` is stable, `message` names the action and
 * the offending value ("Cannot X: current value is Y"). Pass `options.cause` when wrapping another error.
 */
export class EngineError extends Error {
  override readonly name = 'EngineError';

  constructor(
    readonly code: EngineErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
