/**
 * The one error type of the service. Every failure a caller can cause has a stable code; the API maps
 * codes to HTTP statuses and the CLI to a one-line message with exit code 2.
 */
export const ERROR_STATUS = {
  bad_request: 400,
  unauthenticated: 401,
  forbidden: 403,
  csrf_mismatch: 403,
  signup_closed: 403,
  not_found: 404,
  not_acceptable: 406,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  validation_failed: 422,
  insufficient_credits: 402,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** Field name → messages, as Laravel-style 422 bodies carry them. */
export type FieldErrors = Record<string, string[]>;

export class AppError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly fields?: FieldErrors,
  ) {
    super(message);
    this.name = 'AppError';
    this.status = ERROR_STATUS[code];
  }

  static validation(fields: FieldErrors): AppError {
    const first = Object.values(fields)[0]?.[0] ?? 'The given data was invalid.';
    const more = Object.values(fields).flat().length - 1;
    const message = more > 0 ? `${first} (and ${more} more error${more > 1 ? 's' : ''})` : first;
    return new AppError('validation_failed', message, fields);
  }
}

export function isAppError(value: unknown): value is AppError {
  return value instanceof AppError;
}

/**
 * A start-up check failed (a bad engine registry, a model folder that cannot be read or loaded, a device that is
 * not available in strict mode). Never an HTTP error: the CLI prints each problem as its own line and exits with 2.
 */
export class StartupError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('; '));
    this.name = 'StartupError';
  }
}

/** Too many attempts (429): the API sends `retryAfterSeconds` as Retry-After. */
export class ThrottledError extends AppError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super('rate_limited', message);
  }
}
