/**
 * Security headers on every response, from helmet (the maintained set of defaults), built once per profile and
 * applied in one synchronous onRequest hook:
 *
 * - `api` (everything by default: JSON, errors, 404s, /healthz, /metrics): nosniff, `Referrer-Policy: same-origin`,
 *   `X-Frame-Options: DENY` and a CSP that allows nothing (`default-src 'none'; frame-ancestors 'none'`), so a JSON
 *   body can never run as a page; HSTS when the public URL is https.
 * - `images` (/storage): the same, without a CSP and with `Cross-Origin-Resource-Policy: cross-origin`, so API
 *   clients may embed the images on their own sites.
 *
 * Pages set their own CSP on top (the web UI in web-ui.routes.ts, Swagger UI at /docs in app.ts); a header a route
 * sets wins over the one set here.
 */
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import helmet, { type HelmetOptions } from 'helmet';

export type HeaderProfile = 'api' | 'images';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Which security headers the route gets (default `api`). */
    headers?: HeaderProfile;
  }
}

export function securityHeaders(options: { publicUrl: string }) {
  const https = options.publicUrl.startsWith('https://');
  const common: HelmetOptions = {
    referrerPolicy: { policy: 'same-origin' },
    xFrameOptions: { action: 'deny' },
    // HSTS over plain http is ignored by browsers and would mislead: only when the service is reached over https.
    strictTransportSecurity: https ? { maxAge: 31_536_000 } : false,
  };
  const api = helmet({
    ...common,
    contentSecurityPolicy: { useDefaults: false, directives: { 'default-src': ["'none'"], 'frame-ancestors': ["'none'"], 'base-uri': ["'none'"], 'form-action': ["'none'"] } },
  });
  const images = helmet({ ...common, contentSecurityPolicy: false, crossOriginResourcePolicy: { policy: 'cross-origin' } });

  return function setSecurityHeaders(request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    const profile = request.routeOptions.config?.headers === 'images' ? images : api;
    // helmet sets the headers synchronously and then calls next() without an error (helmet ≥ 8.1 throws instead).
    profile(request.raw, reply.raw, () => done());
  };
}

/** The CSP of Swagger UI at /docs: its own scripts and styles only, requests to this origin and the public URL. */
export function docsContentSecurityPolicy(publicUrl: string): string {
  let publicOrigin = '';
  try {
    publicOrigin = ` ${new URL(publicUrl).origin}`;
  } catch {
    publicOrigin = '';
  }
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    `connect-src 'self'${publicOrigin}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}
