/**
 * CORS for browser front-ends on the token-authenticated surfaces (/v1, /sdapi/v1, /api/v1): only the origins of
 * SDAPI_CORS_ORIGINS (none by default; `*` for any) get Access-Control-Allow-Origin. Credentials are never allowed
 * (no Access-Control-Allow-Credentials), so a browser never sends or exposes the session cookie across origins:
 * cross-origin callers authenticate with a bearer token. A preflight is answered here, before authentication.
 */
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';

export const CORS_PREFIXES = ['/v1', '/sdapi/v1', '/api/v1'] as const;
const EXPOSED = 'RateLimit, RateLimit-Policy, Retry-After';
const METHODS = 'GET, POST, PATCH, DELETE, OPTIONS';
/** Request header names a preflight may ask for: tokens, at most 50 of them (the OpenAI SDK sends its x-stainless-* set). */
const HEADER_LIST = /^\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+(\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+){0,49}\s*$/;

export function corsHook(origins: readonly string[]): onRequestHookHandler {
  const any = origins.includes('*');
  const allowed = new Set(origins);
  return async function cors(request: FastifyRequest, reply: FastifyReply) {
    const origin = request.headers.origin;
    if (!origin || !underPrefix(request.url)) return;
    if (!any && !allowed.has(origin.toLowerCase())) return;
    reply.header('access-control-allow-origin', any ? '*' : origin);
    if (!any) reply.header('vary', 'Origin');
    const method = request.headers['access-control-request-method'];
    if (request.method !== 'OPTIONS' || !method) {
      reply.header('access-control-expose-headers', EXPOSED);
      return;
    }
    const asked = request.headers['access-control-request-headers'];
    const headers = typeof asked === 'string' && asked.length <= 2000 && HEADER_LIST.test(asked) ? asked : 'Authorization, Content-Type';
    return reply
      .header('access-control-allow-methods', METHODS)
      .header('access-control-allow-headers', headers)
      .header('access-control-max-age', '600')
      .status(204)
      .send();
  };
}

function underPrefix(url: string): boolean {
  return CORS_PREFIXES.some((prefix) => url.startsWith(prefix) && (url.length === prefix.length || url[prefix.length] === '/' || url[prefix.length] === '?'));
}
