/**
 * What the compatibility surfaces (/v1: OpenAI Images; /sdapi/v1: AUTOMATIC1111) share at the edge: bearer-token
 * authentication (A1111 also takes HTTP Basic with the token as the password, as its `--api-auth` clients send),
 * the same rate limit as /api/v1 (keyed by token, else by address; each surface answers 429 in its own shape),
 * no cookies ever (browser sessions stay on /api/v1), and the mapping of our field names to each protocol's.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError, type FieldErrors } from '../../domain/errors.ts';
import type { ApplicationService } from '../../services/identity/applications.ts';
import { bearerToken, type AuthContext } from '../auth.ts';
import { applyRateLimit, rateLimitKey, type RateLimit } from '../rate-limit.ts';

export interface SurfaceAuthOptions {
  applications: ApplicationService;
  rateLimit?: RateLimit;
  /** Also accept `Authorization: Basic base64(<any user>:<token>)`. */
  basic?: boolean;
}

/** The password of an HTTP Basic Authorization header ('' when the header is Basic but malformed). */
export function basicPassword(request: FastifyRequest): string | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(request.headers.authorization ?? '');
  if (!m) return /^Basic\b/i.test(request.headers.authorization ?? '') ? '' : undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? '' : decoded.slice(colon + 1);
}

/**
 * The surface's onRequest hook: no-store, authentication by token, the rate limit, then `unauthenticated` (the
 * surface's error handler renders it) for a protected route without a valid token.
 */
export function surfaceAuthHook(options: SurfaceAuthOptions) {
  const { applications, rateLimit, basic } = options;
  return async function authenticateSurface(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    reply.header('cache-control', 'no-store');
    const token = basic && /^Basic\b/i.test(request.headers.authorization ?? '') ? basicPassword(request) : bearerToken(request);
    const principal = token ? await applications.authenticate(token) : undefined;
    const auth: AuthContext | null = principal ? { userId: principal.userId, email: principal.email, method: 'token', tokenId: principal.tokenId } : null;
    if (rateLimit && (await applyRateLimit(rateLimit, rateLimitKey(request, auth), reply))) return reply;
    request.auth = auth;
    if (!auth && !request.routeOptions.config?.public && !request.is404) throw new AppError('unauthenticated', 'Unauthenticated.');
    return undefined;
  };
}

/** Aborts when the client goes away before the answer was sent (a synchronous route stops waiting; the job goes on). */
export function clientGone(request: FastifyRequest, reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  request.raw.once('aborted', () => controller.abort());
  return controller.signal;
}

/**
 * Our field errors under a protocol's names: `names` maps a field path (or its first segment) to the protocol's
 * field; messages that start with "The <our label>" name the protocol's field instead.
 */
export function renameFields(fields: FieldErrors, names: Readonly<Record<string, string>>): FieldErrors {
  const out: FieldErrors = {};
  for (const [path, messages] of Object.entries(fields)) {
    const target = names[path] ?? names[path.split('.')[0]] ?? path;
    const ours = path.split('.').filter((p) => !/^\d+$/.test(p)).pop() ?? path;
    const theirs = target.split('.').pop() ?? target;
    const list = (out[target] ??= []);
    for (const message of messages) {
      const renamed = message.replace(new RegExp(`^The (selected )?${escapeRegExp(ours)}\\b`), (_m, selected: string | undefined) => `The ${selected ?? ''}${theirs}`);
      if (!list.includes(renamed)) list.push(renamed);
    }
  }
  return out;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
