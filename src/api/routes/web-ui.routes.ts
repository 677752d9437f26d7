/// <reference types="@fastify/swagger" />
/**
 * Serves the web UI (web/) at `/`: index.html, the app's ES modules and stylesheet under /app/ (and docs/models.md at
 * /app/docs/models.md), and
 * Preact + htm under /vendor/ straight from node_modules (bare imports rewritten, so no import map and
 * no inline script is needed and the page runs under a strict Content-Security-Policy).
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, relative, sep } from 'node:path';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { projectRoot } from '../../config/project-root.ts';

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json; charset=utf-8',
};

export const WEB_ROOT = join(projectRoot, 'web');

function asset(body: Buffer | string, type: string): Asset {
  const buffer = typeof body === 'string' ? Buffer.from(body) : body;
  return { body: buffer, type, etag: `"${createHash('sha256').update(buffer).digest('base64url').slice(0, 22)}"` };
}

/** Every servable file under web/, keyed by its URL path below /app/. Nothing outside this map is served. */
function loadAppAssets(root: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      if (name.startsWith('.')) continue;
      const full = join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (TYPES[extname(name)]) assets.set(relative(root, full).split(sep).join('/'), asset(readFileSync(full), TYPES[extname(name)]));
    }
  };
  walk(root);
  return assets;
}

function loadVendorAssets(): Map<string, Asset> {
  const require = createRequire(import.meta.url);
  const preactDir = dirname(require.resolve('preact'));
  const hooksDir = dirname(require.resolve('preact/hooks'));
  const htmDir = dirname(require.resolve('htm'));
  const read = (path: string) => readFileSync(path, 'utf8').replace(/\n\/\/# sourceMappingURL=.*$/m, '');
  const js = TYPES['.js'];
  return new Map([
    ['preact.mjs', asset(read(join(preactDir, 'preact.mjs')), js)],
    ['preact-hooks.mjs', asset(read(join(hooksDir, 'hooks.mjs')).replace(/from\s*["']preact["']/g, 'from"./preact.mjs"'), js)],
    ['htm.mjs', asset(read(join(htmDir, 'htm.mjs')), js)],
  ]);
}

export interface WebUiRouteDeps {
  /** Origin of image URLs when it differs from the page's (SDAPI_PUBLIC_URL behind a CDN). */
  publicUrl?: string;
  root?: string;
}

export function contentSecurityPolicy(publicUrl?: string): string {
  let imageOrigin = '';
  if (publicUrl) {
    try {
      imageOrigin = ` ${new URL(publicUrl).origin}`;
    } catch {
      imageOrigin = '';
    }
  }
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    `img-src 'self' data: blob:${imageOrigin}`,
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export function webUiRoutes(options: WebUiRouteDeps = {}): FastifyPluginAsync {
  return async (app) => {
    const root = options.root ?? WEB_ROOT;
    const appAssets = loadAppAssets(root);
    const vendor = loadVendorAssets();
    // How to add a real model, linked from the playground while the demo model serves (as text: it is Markdown).
    appAssets.set('docs/models.md', asset(readFileSync(join(projectRoot, 'docs', 'models.md')), 'text/plain; charset=utf-8'));
    const index = appAssets.get('index.html');
    if (!index) throw new Error(`web UI: ${join(root, 'index.html')} is missing`);
    const csp = contentSecurityPolicy(options.publicUrl);

    const send = (reply: FastifyReply, file: Asset, ifNoneMatch: string | undefined, cache: string) => {
      reply
        .header('content-type', file.type)
        .header('cache-control', cache)
        .header('etag', file.etag)
        .header('x-content-type-options', 'nosniff');
      if (ifNoneMatch === file.etag) return reply.code(304).send();
      return reply.send(file.body);
    };

    const page = { schema: { hide: true } };
    // The page gets the `page` security headers (security-headers.ts) under the CSP set here.
    app.get('/', { ...page, config: { headers: 'page' } }, (request, reply) => {
      reply
        .header('content-security-policy', csp)
        .header('x-frame-options', 'DENY')
        .header('referrer-policy', 'same-origin');
      return send(reply, index, request.headers['if-none-match'], 'no-cache');
    });
    app.get<{ Params: { '*': string } }>('/app/*', page, (request, reply) => {
      const file = appAssets.get(request.params['*']);
      if (!file) return reply.code(404).type('text/plain').send('Not found');
      return send(reply, file, request.headers['if-none-match'], 'no-cache');
    });
    app.get<{ Params: { name: string } }>('/vendor/:name', page, (request, reply) => {
      const file = vendor.get(request.params.name);
      if (!file) return reply.code(404).type('text/plain').send('Not found');
      return send(reply, file, request.headers['if-none-match'], 'public, max-age=86400');
    });
  };
}
