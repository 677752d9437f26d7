/**
 * Security headers on each kind of response: API JSON (authenticated and not), errors and 404s, the web UI page,
 * Swagger UI at /docs, images, and the operations routes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { bearerRequest, buildHarness, type Harness } from '../web/helpers.ts';

const IMAGE_KEY = `stablediffusion_text2img/${'1'.repeat(8)}-0000-4000-8000-${'1'.repeat(12)}.png`;

function common(res: LightMyRequestResponse, label: string): void {
  assert.equal(res.headers['x-content-type-options'], 'nosniff', `${label}: nosniff`);
  assert.equal(res.headers['strict-transport-security'], undefined, `${label}: no HSTS over plain http`);
}

/** Pages (the UI, Swagger UI) also get the framing, referrer and isolation headers of helmet. */
function page(res: LightMyRequestResponse, label: string): void {
  common(res, label);
  assert.equal(res.headers['referrer-policy'], 'same-origin', `${label}: Referrer-Policy`);
  assert.equal(res.headers['x-frame-options'], 'DENY', `${label}: X-Frame-Options`);
  assert.equal(res.headers['cross-origin-opener-policy'], 'same-origin', `${label}: COOP`);
}

/** JSON gets no page headers: served nosniff as application/json it is never a page (and each header costs ~1 µs). */
function json(res: LightMyRequestResponse, label: string): void {
  common(res, label);
  assert.match(String(res.headers['content-type']), /^application\/json/, label);
  for (const h of ['content-security-policy', 'x-frame-options', 'referrer-policy']) assert.equal(res.headers[h], undefined, `${label}: ${h}`);
}

describe('security headers', () => {
  let h: Harness;
  let token: string;
  before(async () => {
    h = await buildHarness();
    const user = await h.services.users.create('headers@example.com', 'a-long-password');
    const app = await h.services.applications.create(user.id, 'headers');
    token = (await h.services.applications.createToken(user.id, app.id)).token;
    await h.runtime.storage.put(IMAGE_KEY, new Uint8Array([0x89, 0x50, 0x4e, 0x47]));
  });
  after(() => h.close());

  it('API JSON, authenticated or not, success or error: nosniff and no-store', async () => {
    const answers: [string, LightMyRequestResponse, number][] = [
      ['authenticated JSON', await bearerRequest(h.app, 'GET', '/api/v1/threads', token), 200],
      ['authenticated 201', await bearerRequest(h.app, 'POST', '/api/v1/applications', token, { name: 'x' }), 201],
      ['unauthenticated public JSON', await h.app.inject({ method: 'GET', url: '/api/v1/auth/session' }), 200],
      ['401', await h.app.inject({ method: 'GET', url: '/api/v1/threads' }), 401],
      ['422', await bearerRequest(h.app, 'POST', '/api/v1/applications', token, { name: '' }), 422],
      ['413', await h.app.inject({ method: 'POST', url: '/api/v1/applications', headers: { authorization: `Bearer ${token}` }, payload: { name: 'x'.repeat(2 * 1024 * 1024) } }), 413],
      ['API 404', await bearerRequest(h.app, 'GET', '/api/v1/nothing-here', token), 404],
    ];
    for (const [label, res, status] of answers) {
      assert.equal(res.statusCode, status, `${label}: ${res.body.slice(0, 200)}`);
      json(res, label);
      assert.equal(res.headers['cache-control'], 'no-store', `${label}: no-store`);
    }
  });

  it('a 404 outside the API and the operations routes: nosniff', async () => {
    for (const url of ['/no/such/page', '/healthz', '/readyz']) json(await h.app.inject({ method: 'GET', url }), url);
    common(await h.app.inject({ method: 'GET', url: '/metrics' }), '/metrics');
  });

  it('the web UI page: its own strict CSP with frame-ancestors none', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/' });
    assert.match(String(res.headers['content-type']), /^text\/html/);
    page(res, 'UI');
    const csp = String(res.headers['content-security-policy']);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  });

  it('Swagger UI at /docs: a CSP that allows only its own scripts and styles, frame-ancestors none', async () => {
    for (const url of ['/docs', '/docs/', '/docs/static/index.html', '/docs/static/swagger-initializer.js']) {
      const res = await h.app.inject({ method: 'GET', url });
      assert.ok(res.statusCode < 400, `${url}: ${res.statusCode}`);
      page(res, url);
      const csp = String(res.headers['content-security-policy']);
      assert.match(csp, /script-src 'self'(;|$)/, `${url}: ${csp}`);
      assert.match(csp, /frame-ancestors 'none'/, url);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|upgrade-insecure-requests/, url);
    }
  });

  it('images: long private caching, nosniff, embeddable from other sites, no CSP', async () => {
    const res = await h.app.inject({ method: 'GET', url: `/storage/${IMAGE_KEY}` });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'image/png');
    assert.equal(res.headers['cache-control'], 'private, max-age=31536000, immutable');
    common(res, 'image');
    assert.equal(res.headers['cross-origin-resource-policy'], 'cross-origin');
    assert.equal(res.headers['content-security-policy'], undefined);
    const missing = await h.app.inject({ method: 'GET', url: '/storage/stablediffusion_text2img/nope.png' });
    assert.equal(missing.statusCode, 404);
    common(missing, 'image 404');
  });

  it('HSTS when the public URL is https', async () => {
    const secure = await buildHarness({ SDAPI_PUBLIC_URL: 'https://sdapi.example.com' });
    try {
      for (const url of ['/api/v1/auth/session', '/', '/docs/']) {
        const res = await secure.app.inject({ method: 'GET', url });
        assert.match(String(res.headers['strict-transport-security']), /^max-age=31536000/, url);
      }
    } finally {
      await secure.close();
    }
  });
});
