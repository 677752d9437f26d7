/** One error handler: stable JSON bodies, 422 with field names, never a stack trace. */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { AppError, isAppError, ThrottledError, type FieldErrors } from '../domain/errors.ts';
import { ReplayedRefusal } from '../services/idempotency/idempotency.ts';

interface AjvError {
  instancePath?: string;
  keyword?: string;
  params?: Record<string, unknown>;
  message?: string;
}

/** Ajv errors → Laravel-style `{field: [messages]}` with dotted field names (`prompts.0.text`). */
export function fieldErrors(validation: AjvError[], context?: string): FieldErrors {
  const out: FieldErrors = {};
  for (const e of validation) {
    let path = (e.instancePath ?? '').replace(/^\//, '').replaceAll('/', '.');
    if (e.keyword === 'required' && typeof e.params?.missingProperty === 'string') {
      path = path ? `${path}.${e.params.missingProperty}` : e.params.missingProperty;
    }
    if (!path) path = context === 'body' ? 'body' : (context ?? 'request');
    const label = path.split('.').filter((p) => !/^\d+$/.test(p)).pop() ?? path;
    let message: string;
    switch (e.keyword) {
      case 'required':
        message = `The ${label} field is required.`;
        break;
      case 'enum':
        message = `The selected ${label} is invalid. Allowed: ${(e.params?.allowedValues as unknown[] | undefined)?.join(', ') ?? ''}.`;
        break;
      case 'type':
        message = `The ${label} must be ${e.params?.type === 'integer' ? 'an integer' : `of type ${String(e.params?.type)}`}.`;
        break;
      case 'pattern':
        message = `The ${label} contains characters that are not allowed (control characters).`;
        break;
      case 'maxLength':
        message = `The ${label} may not be greater than ${String(e.params?.limit)} characters.`;
        break;
      case 'minimum':
        message = `The ${label} must be at least ${String(e.params?.limit)}.`;
        break;
      case 'maximum':
        message = `The ${label} may not be greater than ${String(e.params?.limit)}.`;
        break;
      case 'minLength':
        message = e.params?.limit === 1 ? `The ${label} field is required.` : `The ${label} must be at least ${String(e.params?.limit)} characters.`;
        break;
      case 'minItems':
        message = `The ${label} must have at least ${String(e.params?.limit)} item${e.params?.limit === 1 ? '' : 's'}.`;
        break;
      case 'maxItems':
        message = `The ${label} may not have more than ${String(e.params?.limit)} items.`;
        break;
      default:
        message = `The ${label} ${e.message ?? 'is invalid'}.`;
    }
    (out[path] ??= []).includes(message) || out[path].push(message);
  }
  return out;
}

function validationBody(fields: FieldErrors): { message: string; errors: FieldErrors } {
  const all = Object.values(fields).flat();
  const message = all.length > 1 ? `${all[0]} (and ${all.length - 1} more error${all.length > 2 ? 's' : ''})` : (all[0] ?? 'The given data was invalid.');
  return { message, errors: fields };
}

export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler(async (error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) => {
    if (isAppError(error)) {
      if (error.status === 401) return reply.status(401).send({ message: 'Unauthenticated.' });
      if (error.status === 422) return reply.status(422).send(validationBody(error.fields ?? {}));
      if (error instanceof ThrottledError) reply.header('retry-after', String(error.retryAfterSeconds));
      if (error instanceof ReplayedRefusal) reply.header('idempotent-replayed', 'true');
      if (error.status >= 500) request.log.error({ err: error, reqId: request.id }, 'request failed');
      return reply.status(error.status).send({ message: error.message, code: error.code });
    }
    const fe = error as FastifyError & { validation?: AjvError[]; validationContext?: string };
    if (fe.validation) return reply.status(422).send(validationBody(fieldErrors(fe.validation, fe.validationContext)));
    const status = fe.statusCode ?? 500;
    if (status === 413 || fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.status(413).send({ message: 'The request body is too large.', code: 'payload_too_large' });
    }
    if (status === 415 || fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return reply.status(415).send({ message: 'Unsupported content type: send JSON, form-urlencoded or multipart/form-data.', code: 'unsupported_media_type' });
    }
    if (status >= 400 && status < 500) {
      const message = fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error instanceof SyntaxError ? 'The request body is not valid JSON.' : publicMessage(fe);
      return reply.status(status).send({ message, code: 'bad_request' });
    }
    request.log.error({ err: error, reqId: request.id }, 'unexpected error');
    return reply.status(500).send({ message: 'Server Error.' });
  });

  app.setNotFoundHandler(notFound);
}

/** The 404 of an unknown route (also the /api/v1 scope's own not-found handler). */
export function notFound(request: FastifyRequest, reply: FastifyReply): void {
  reply.status(404).send({ message: `Route ${request.method} ${shortPath(request.url)} not found.`, code: 'not_found' });
}

/** The request path for a message: no query string, at most 200 characters (a hostile URL is not echoed back whole). */
function shortPath(url: string): string {
  const path = url.split('?')[0];
  return path.length > 200 ? `${path.slice(0, 200)}…` : path;
}

/**
 * Fastify's `frameworkErrors`: errors raised before routing (a URL that does not percent-decode, a path
 * parameter over `maxParamLength`), answered in the same JSON shape as every other error.
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    reply.status(414).send({ message: 'The URL is too long: a path segment exceeds the maximum length.', code: 'uri_too_long' });
  } else if (error.code === 'FST_ERR_BAD_URL') {
    reply.status(400).send({ message: 'The URL is not valid: it contains a malformed percent-encoding.', code: 'bad_request' });
  } else {
    request.log.error({ err: error, reqId: request.id }, 'framework error');
    reply.status(500).send({ message: 'Server Error.' });
  }
}

/**
 * Non-finite numbers anywhere in the validated input. Ajv coerces the strings "Infinity" and "1e999" (form fields,
 * query strings) to Infinity and then skips minimum/maximum for it, so without this an unbounded value gets through.
 */
export function nonFiniteFields(request: FastifyRequest): FieldErrors {
  const fields: FieldErrors = {};
  const walk = (value: unknown, path: string, depth: number) => {
    if (typeof value === 'number' && !Number.isFinite(value)) {
      const label = path.split('.').filter((p) => !/^\d+$/.test(p)).pop() ?? path;
      (fields[path] ??= []).push(`The ${label} must be a finite number.`);
    } else if (value !== null && typeof value === 'object' && depth < 8) {
      for (const [k, v] of Object.entries(value)) walk(v, path ? `${path}.${k}` : k, depth + 1);
    }
  };
  walk(request.query, '', 0);
  walk(request.params, '', 0);
  walk(request.body, '', 0);
  return fields;
}

/**
 * preHandler of the routes that read a body or a query string (rejectNonFiniteOnRoute adds it): refuses non-finite
 * numbers with a 422. Routes with `attachValidation` report them with their other field errors (schemaErrorsOf).
 */
export function rejectNonFinite(request: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void): void {
  if (request.body === undefined && isEmpty(request.query)) return done();
  const fields = nonFiniteFields(request);
  done(Object.keys(fields).length > 0 ? AppError.validation(fields) : undefined);
}

/**
 * onRoute hook: adds rejectNonFinite to the routes where Ajv coerces strings to numbers (a body or a query string)
 * and that do not report their own field errors; other routes (most reads, the polling path) skip the hook.
 */
export function rejectNonFiniteOnRoute(route: RouteOptions): void {
  if (route.attachValidation || !(route.schema?.body || route.schema?.querystring)) return;
  const existing = route.preHandler === undefined ? [] : Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler];
  route.preHandler = [...existing, rejectNonFinite];
}

/**
 * For routes with `attachValidation`: everything the route's schema (and the non-finite check) found wrong, as
 * field errors, so the handler can add the rules only the service knows and answer one 422 naming every bad field.
 */
export function schemaErrorsOf(request: FastifyRequest): FieldErrors {
  const fields: FieldErrors = request.validationError ? fieldErrors(request.validationError.validation, request.validationError.validationContext) : {};
  for (const [path, messages] of Object.entries(nonFiniteFields(request))) {
    for (const m of messages) if (!(fields[path] ??= []).includes(m)) fields[path].push(m);
  }
  return fields;
}

function isEmpty(value: unknown): boolean {
  if (value === undefined || value === null) return true;
  for (const _ in value) return false;
  return true;
}

function publicMessage(error: FastifyError): string {
  // Fastify's 4xx messages are safe (no internals); keep them short.
  return (error.message || 'Bad request.').slice(0, 300);
}
