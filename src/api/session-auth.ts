/**
 * Cookie sessions for the web UI: reading the `sdapi_session` cookie into an auth context (with the
 * CSRF check for writes), and writing/clearing the cookie. Bearer tokens are handled by auth.ts; this
 * is its pluggable session authenticator.
 */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../services/errors.ts';
import type { SessionService } from '../services/web/sessions.ts';
import type { AuthContext, SessionAuthenticator } from './auth.ts';

export const SESSION_COOKIE = 'sdapi_session';
export const CSRF_HEADER = 'x-csrf-token';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);


/** Reads one cookie from the raw header, so this works whether or not @fastify/cookie is registered. */
export function readCookie(request: FastifyRequest, name: string): string | undefined {
  const parsed = (request as { cookies?: Record<string, string | undefined> }).cookies;
  if (parsed && typeof parsed[name] === 'string') return parsed[name];
  const header = request.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      const raw = part.slice(eq + 1).trim();
      try {
        return decodeURIComponent(raw);
      } catch {
        return raw;
      }
    }
  }
  return undefined;
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Builds the session authenticator auth.ts calls when a request has no bearer token. A cookie-authenticated
 * write (any method but GET/HEAD/OPTIONS) must carry the session's CSRF token in `X-CSRF-Token`, else 403.
 */
export function createSessionAuthenticator(sessions: SessionService): SessionAuthenticator {
  return async function sessionAuthenticator(request: FastifyRequest): Promise<AuthContext | null> {
    const secret = readCookie(request, SESSION_COOKIE);
    if (!secret) return null;
    const session = await sessions.authenticate(secret);
    if (!session) return null;
    if (!SAFE_METHODS.has(request.method)) {
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

function cookieAttributes(request: FastifyRequest, maxAgeSeconds: number, alwaysSecure = false): string {
  const parts = ['Path=/', 'HttpOnly', 'SameSite=Lax', `Max-Age=${maxAgeSeconds}`];
  if (maxAgeSeconds === 0) parts.push('Expires=Thu, 01 Jan 1970 00:00:00 GMT');
  if (alwaysSecure || isHttps(request)) parts.push('Secure');
  return parts.join('; ');
}

export function setSessionCookie(request: FastifyRequest, reply: FastifyReply, secret: string, options: CookieOptions): void {
  reply.header('set-cookie', `${SESSION_COOKIE}=${encodeURIComponent(secret)}; ${cookieAttributes(request, options.maxAgeSeconds, options.alwaysSecure)}`);
}

export function clearSessionCookie(request: FastifyRequest, reply: FastifyReply, options: Omit<CookieOptions, 'maxAgeSeconds'> = {}): void {
  reply.header('set-cookie', `${SESSION_COOKIE}=; ${cookieAttributes(request, 0, options.alwaysSecure)}`);
}
