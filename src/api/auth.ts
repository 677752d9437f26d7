/**
 * Authentication: sets `request.auth` from a bearer token (API clients) or, when the app was built
 * with one, from the pluggable session authenticator (browser sessions, CSRF checks included).
 * Runs as a preValidation hook, so the body is parsed (CSRF form fields) but a missing login
 * answers 401 before any 422. Routes with `config: { public: true }` skip the requirement.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApplicationService } from '../services/identity/applications.ts';
import { decodeMultipart } from './body-parsers.ts';
import { AppError } from '../domain/errors.ts';

export interface AuthContext {
  userId: string;
  email: string;
  method: 'token' | 'session';
  tokenId?: string;
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
    return principal ? { userId: principal.userId, email: principal.email, method: 'token', tokenId: principal.tokenId } : null;
  }
  return sessionAuthenticator ? sessionAuthenticator(request) : null;
}

/**
 * The preValidation hook of the API scope: decodes a multipart body (so CSRF form fields are there), then
 * authenticates. One hook for both, since every hook costs every request.
 */
export function apiRequestHook(applications: ApplicationService, sessionAuthenticator?: SessionAuthenticator) {
  return async function prepareApiRequest(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    if (request.isMultipart()) await decodeMultipart(request);
    request.auth = await resolveAuth(request, applications, sessionAuthenticator);
    if (!request.auth && !request.routeOptions.config?.public) throw new AppError('unauthenticated', 'Unauthenticated.');
  };
}

/** The caller, for handlers of authenticated routes. */
export function requireAuth(request: FastifyRequest): AuthContext {
  if (!request.auth) throw new AppError('unauthenticated', 'Unauthenticated.');
  return request.auth;
}
