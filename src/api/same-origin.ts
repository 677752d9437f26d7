/**
 * Cross-site request detection for cookie-authenticated writes and credential posts (login CSRF). Browsers send
 * Origin with every cross-origin write; older ones send only Referer, and all current ones Sec-Fetch-Site. Same
 * origin means the Host the request came to (scheme aside: TLS may end at a proxy) or the configured public URL.
 */
import type { FastifyRequest } from 'fastify';

const withoutDefaultPort = (host: string) => host.toLowerCase().replace(/:(80|443)$/, '');

function isOurs(request: FastifyRequest, url: string, publicOrigin: string | undefined): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false; // `null` (sandboxed frames, file:) and garbage are never ours
  }
  if (parsed.origin === publicOrigin) return true;
  return withoutDefaultPort(parsed.host) === withoutDefaultPort(request.host);
}

function originOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

/**
 * Why the request comes from another site, or undefined when nothing says so. Origin decides when present; without
 * it, `Sec-Fetch-Site: cross-site` or a Referer of another origin. A request with none of them (a script, curl) is
 * not a browser's cross-site request.
 */
export function crossSiteReason(request: FastifyRequest, publicUrl: string): 'origin' | 'sec-fetch-site' | 'referer' | undefined {
  const publicOrigin = originOf(publicUrl);
  const origin = request.headers.origin;
  if (origin !== undefined) return isOurs(request, origin, publicOrigin) ? undefined : 'origin';
  if (request.headers['sec-fetch-site'] === 'cross-site') return 'sec-fetch-site';
  const referer = request.headers.referer;
  if (referer !== undefined && !isOurs(request, referer, publicOrigin)) return 'referer';
  return undefined;
}
