/**
 * Security headers on every response, from helmet (the maintained set of defaults), computed once per profile and
 * set in one synchronous onRequest hook:
 *
 * - `api` (the default: JSON answers, errors, 404s, /healthz, /metrics): `X-Content-Type-Options: nosniff` only (and
 *   HSTS over https). A JSON body served nosniff as application/json is never run or rendered as a page, so the
 *   page headers (CSP, frame and referrer policies) would protect nothing, and each header costs every API request
 *   about 1 µs of CPU in Node's writeHead (measured, BENCHMARKS.md) — the RateLimit fields already add two.
 * - `page` (the web UI and Swagger UI): helmet's full set (`X-Frame-Options: DENY`, `Referrer-Policy: same-origin`,
 *   COOP, CORP, Origin-Agent-Cluster, …); the page's own CSP, with `frame-ancestors 'none'`, is set by its route
 *   (web-ui.routes.ts, Swagger UI's `staticCSP` in app.ts) and wins.
 * - `images` (/storage): nosniff and `Cross-Origin-Resource-Policy: cross-origin`, so API clients may embed the
 *   images on their own sites.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from 'fastify';
import helmet, { type HelmetOptions } from 'helmet';

export type HeaderProfile = 'api' | 'page' | 'images';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Which security headers the route gets (default `api`). */
    headers?: HeaderProfile;
  }
}

/** helmet with every header off: each profile turns on what it needs. */
const NONE = {
  contentSecurityPolicy: false,
  crossOriginEmbedderPolicy: false,
  crossOriginOpenerPolicy: false,
  crossOriginResourcePolicy: false,
  originAgentCluster: false,
  referrerPolicy: false,
  strictTransportSecurity: false,
  xContentTypeOptions: false,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xFrameOptions: false,
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false,
} as const satisfies HelmetOptions;

export function securityHeaders(options: { publicUrl: string }) {
  // HSTS over plain http is ignored by browsers and would mislead: only when the service is reached over https.
  const strictTransportSecurity = options.publicUrl.startsWith('https://') ? { maxAge: 31_536_000 } : false;
  const base = { ...NONE, strictTransportSecurity, xContentTypeOptions: true };
  const profiles: Record<HeaderProfile, Readonly<Record<string, string>>> = {
    api: headersOf(helmet(base)),
    page: headersOf(helmet({ strictTransportSecurity, referrerPolicy: { policy: 'same-origin' }, xFrameOptions: { action: 'deny' }, contentSecurityPolicy: false })),
    images: headersOf(helmet({ ...base, crossOriginResourcePolicy: { policy: 'cross-origin' } })),
  };

  return function setSecurityHeaders(request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    reply.headers(profiles[request.routeOptions.config?.headers ?? 'api']);
    done();
  };
}

/** onRoute: routes of a plugin we do not write (Swagger UI under `prefix`) get the `page` profile. */
export function pageHeadersUnder(prefix: string) {
  return (route: RouteOptions): void => {
    if (route.url === prefix || route.url.startsWith(`${prefix}/`)) route.config = { ...route.config, headers: 'page' };
  };
}

type Middleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

/**
 * The headers a helmet middleware sets, captured once. They depend on nothing in the request, and setting them through
 * the reply (not on the raw response, as the middleware would) keeps Node's single-call writeHead path: measured at
 * ~16 µs of CPU per request the other way (BENCHMARKS.md).
 */
function headersOf(middleware: Middleware): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {};
  const recorder = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()];
    },
  };
  middleware({} as IncomingMessage, recorder as unknown as ServerResponse, () => undefined);
  return Object.freeze(headers);
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
