/**
 * CORS (SDAPI_CORS_ORIGINS) on /v1, /sdapi/v1 and /api/v1: none by default; listed origins get the Allow-Origin
 * field and preflights, never credentials (cookies do not cross origins); other paths and origins get nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createApiContext, type ApiContext } from '../helpers/api-context.ts';

const APP = 'https://app.example.com';

describe('CORS', () => {
  let ctx: ApiContext;
  let token: string;
  before(async () => {
    ctx = await createApiContext({ env: { SDAPI_CORS_ORIGINS: `${APP}, http://localhost:3000` } });
    token = (await ctx.user('cors@example.com', 10)).token;
  });
  after(() => ctx.close());

  for (const path of ['/v1/models', '/sdapi/v1/sd-models', '/api/v1/engines']) {
    it(`a listed origin may call ${path} with a bearer token; the preflight answers 204 without credentials`, async () => {
      const preflight = await ctx.app.inject({
        method: 'OPTIONS',
        url: path,
        headers: { origin: APP, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization, x-stainless-os' },
      });
      assert.equal(preflight.statusCode, 204);
      assert.equal(preflight.headers['access-control-allow-origin'], APP);
      assert.equal(preflight.headers['access-control-allow-headers'], 'authorization, x-stainless-os');
      assert.match(String(preflight.headers['access-control-allow-methods']), /POST/);
      assert.equal(preflight.headers['access-control-allow-credentials'], undefined);
      const res = await ctx.request(token, { method: 'GET', url: path, headers: { origin: APP } });
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['access-control-allow-origin'], APP);
      assert.equal(res.headers.vary, 'Origin');
      assert.match(String(res.headers['access-control-expose-headers']), /RateLimit/);
      assert.equal(res.headers['access-control-allow-credentials'], undefined);
    });
  }

  it('an origin not listed, and paths outside the API surfaces, get no CORS fields', async () => {
    const other = await ctx.request(token, { method: 'GET', url: '/v1/models', headers: { origin: 'https://evil.example' } });
    assert.equal(other.headers['access-control-allow-origin'], undefined);
    const preflight = await ctx.app.inject({ method: 'OPTIONS', url: '/v1/models', headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' } });
    assert.equal(preflight.headers['access-control-allow-origin'], undefined);
    const page = await ctx.app.inject({ method: 'GET', url: '/healthz', headers: { origin: APP } });
    assert.equal(page.headers['access-control-allow-origin'], undefined);
    const lookalike = await ctx.request(token, { method: 'GET', url: '/v1x', headers: { origin: APP } });
    assert.equal(lookalike.headers['access-control-allow-origin'], undefined);
  });

  it('none by default', async () => {
    const plain = await createApiContext();
    try {
      const res = await plain.app.inject({ method: 'OPTIONS', url: '/v1/models', headers: { origin: APP, 'access-control-request-method': 'GET' } });
      assert.equal(res.headers['access-control-allow-origin'], undefined);
    } finally {
      await plain.close();
    }
  });
});
