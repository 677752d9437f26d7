/**
 * Authentication: sets `request.auth` from a bearer token (API clients) or, when the app was built
 * with one, from the pluggable session authenticator (browser sessions, CSRF and origin checks included).
 * Runs as the API scope's onRequest hook, before the body is read, together with the rate limit (whose key is the
 * authenticated token or session): a missing login answers 401 before any body is parsed. Routes with
 * `config: { public: true }` skip the requirement.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApplicationService } from '../services/identity/applications.ts';
import { decodeMultipart } from './body-parsers.ts';
import { AppError } from '../domain/errors.ts';
import { applyRateLimit, rateLimitKey, type RateLimit } from './rate-limit.ts';

export interface AuthContext {
  userId: string;
  email: string;
  method: 'token' | 'session';
  tokenId?: string;
  /** The application of the bearer token (its secret signs the webhooks of the token's requests). */
  applicationId?: string;
  sessionId?: string;
}

export type SessionAuthenticator = (request: FastifyRequest) => Promise<AuthContext | null>;

declare module 'fastify' {
  interface FastifyRequest {
    auth: AuthContext | null;
  }
  interface FastifyContextConfig {
    /** The route answers without authentication. */
    public?: boolean;
  }
}

/** The bearer token of the Authorization header; '' when the header is there but is not a bearer token. */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : '';
}

export async function resolveAuth(
  request: FastifyRequest,
  applications: ApplicationService,
  sessionAuthenticator?: SessionAuthenticator,
): Promise<AuthContext | null> {
  const token = bearerToken(request);
  if (token !== undefined) {
    // A bearer header that is present but wrong never falls back to a session.
    const principal = token ? await applications.authenticate(token) : undefined;
    return principal ? { userId: principal.userId, email: principal.email, method: 'token', tokenId: principal.tokenId, applicationId: principal.applicationId } : null;
  }
  return sessionAuthenticator ? sessionAuthenticator(request) : null;
}

export interface ApiRequestHookOptions {
  applications: ApplicationService;
  sessionAuthenticator?: SessionAuthenticator;
  /** The per-token/session/address rate limit (none: unlimited, no RateLimit fields). */
  rateLimit?: RateLimit;
}

/**
 * The onRequest hook of the API scope, one hook for everything every API request needs (each hook costs every
 * request): `Cache-Control: no-store` (answers carry account data), authentication, then the rate limit keyed by
 * what authenticated (a failed authentication is limited by address, so bad tokens cannot dodge the limit), then
 * 401 for a protected route without a login. Unknown /api/v1 paths answer 404 whatever the credentials.
 */
export function apiRequestHook(options: ApiRequestHookOptions) {
  const { applications, sessionAuthenticator, rateLimit } = options;
  return async function prepareApiRequest(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    reply.header('cache-control', 'no-store');
    let auth: AuthContext | null = null;
    let refused: unknown;
    try {
      auth = await resolveAuth(request, applications, sessionAuthenticator);
    } catch (err) {
      refused = err; // a CSRF or origin refusal still counts against the address
    }
    if (rateLimit && (await applyRateLimit(rateLimit, rateLimitKey(request, auth), reply))) return reply;
    if (refused !== undefined) throw refused;
    request.auth = auth;
    if (!auth && !request.routeOptions.config?.public && !request.is404) throw new AppError('unauthenticated', 'Unauthenticated.');
    return undefined;
  };
}

/** preValidation of the API's write routes: a multipart body is decoded into the same object form and JSON give. */
export async function decodeMultipartBody(request: FastifyRequest): Promise<void> {
  if (request.isMultipart()) await decodeMultipart(request);
}

/** The caller, for handlers of authenticated routes. */
export function requireAuth(request: FastifyRequest): AuthContext {
  if (!request.auth) throw new AppError('unauthenticated', 'Unauthenticated.');
  return request.auth;
}
