/**
 * Security headers on every response, from helmet (the maintained set of defaults), computed once per profile and
 * set in one synchronous onRequest hook:
 *
 * - `api` (the default: JSON answers, errors, 404s, /healthz, /metrics): `X-Content-Type-Options: nosniff`,
 *   `Referrer-Policy: same-origin` and a CSP that allows nothing (`default-src 'none'; frame-ancestors 'none'`), so a
 *   JSON body can never run or be framed as a page. Only these three: each header costs every API request (~0.3 µs of
 *   CPU to write), and the page-only ones (COOP, CORP, X-Frame-Options, …) protect nothing a JSON body needs.
 * - `page` (the web UI and Swagger UI): helmet's full set (COOP, CORP, Origin-Agent-Cluster, `X-Frame-Options: DENY`,
 *   …); the page's own CSP is set by its route (web-ui.routes.ts, Swagger UI's `staticCSP` in app.ts) and wins.
 * - `images` (/storage): nosniff, the referrer policy and `Cross-Origin-Resource-Policy: cross-origin`, so API
 *   clients may embed the images on their own sites.
 *
 * HSTS is added to every profile when the public URL is https.
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
  const referrerPolicy = { policy: 'same-origin' } as const;
  const base = { ...NONE, strictTransportSecurity, referrerPolicy, xContentTypeOptions: true };
  const profiles: Record<HeaderProfile, Readonly<Record<string, string>>> = {
    api: headersOf(helmet({ ...base, contentSecurityPolicy: { useDefaults: false, directives: { 'default-src': ["'none'"], 'frame-ancestors': ["'none'"] } } })),
    page: headersOf(helmet({ strictTransportSecurity, referrerPolicy, xFrameOptions: { action: 'deny' }, contentSecurityPolicy: false })),
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
