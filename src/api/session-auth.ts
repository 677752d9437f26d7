/**
 * Cookie sessions for the web UI: reading the `sdapi_session` cookie into an auth context (with the
 * CSRF check for writes), and writing/clearing the cookie. Bearer tokens are handled by auth.ts; this
 * is its pluggable session authenticator.
 */
import { timingSafeEqual } from 'node:crypto';
import type { CookieSerializeOptions } from '@fastify/cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../domain/errors.ts';
import type { SessionService } from '../services/web/sessions.ts';
import type { AuthContext, SessionAuthenticator } from './auth.ts';
import { crossSiteReason } from './same-origin.ts';

export const SESSION_COOKIE = 'sdapi_session';
export const CSRF_HEADER = 'x-csrf-token';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Builds the session authenticator auth.ts calls when a request has no bearer token. A cookie-authenticated
 * write (any method but GET/HEAD/OPTIONS) must come from this site (Origin, else Sec-Fetch-Site/Referer: see
 * same-origin.ts) and carry the session's CSRF token in `X-CSRF-Token`; otherwise 403.
 */
export function createSessionAuthenticator(sessions: SessionService, options: { publicUrl: string }): SessionAuthenticator {
  return async function sessionAuthenticator(request: FastifyRequest): Promise<AuthContext | null> {
    // Cookies are parsed here, on demand: a bearer-token request (most API traffic) never pays for it.
    const header = request.headers.cookie;
    const secret = header ? request.server.parseCookie(header)[SESSION_COOKIE] : undefined;
    if (!secret) return null;
    const session = await sessions.authenticate(secret);
    if (!session) return null;
    if (!SAFE_METHODS.has(request.method)) {
      if (crossSiteReason(request, options.publicUrl)) throw new AppError('csrf_mismatch', 'Cross-site request refused.');
      const given = request.headers[CSRF_HEADER];
      if (typeof given !== 'string' || !sameSecret(given, session.csrfToken)) {
        throw new AppError('csrf_mismatch', 'CSRF token mismatch.');
      }
    }
    return { userId: session.userId, email: session.email, method: 'session', sessionId: session.sessionId };
  };
}

/** True when the client reached us over HTTPS (request.protocol honours X-Forwarded-Proto only when trustProxy is set). */
export function isHttps(request: FastifyRequest): boolean {
  return request.protocol === 'https';
}

export interface CookieOptions {
  maxAgeSeconds: number;
  /** Mark the cookie Secure even on a plain-http request (the public URL is https and TLS ends at a proxy). */
  alwaysSecure?: boolean;
}

function cookieOptions(request: FastifyRequest, maxAgeSeconds: number, alwaysSecure = false): CookieSerializeOptions {
  return { path: '/', httpOnly: true, sameSite: 'lax', maxAge: maxAgeSeconds, secure: alwaysSecure || isHttps(request) };
}

export function setSessionCookie(request: FastifyRequest, reply: FastifyReply, secret: string, options: CookieOptions): void {
  reply.setCookie(SESSION_COOKIE, secret, cookieOptions(request, options.maxAgeSeconds, options.alwaysSecure));
}

export function clearSessionCookie(request: FastifyRequest, reply: FastifyReply, options: Omit<CookieOptions, 'maxAgeSeconds'> = {}): void {
  reply.clearCookie(SESSION_COOKIE, cookieOptions(request, 0, options.alwaysSecure));
}
