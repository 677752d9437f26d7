/**
 * The API rate limit (SDAPI_RATE_LIMIT): RateLimit-Policy and RateLimit fields on every /api/v1 answer, 429 with
 * Retry-After past the quota, one bucket per token, per session and per client address for everything
 * unauthenticated (bad tokens included), the stand-alone hook with another surface's error body, and the OpenAPI
 * document. Quotas are small and windows long (60 s), so no window ends during a test.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import { rateLimitHook } from '../../src/api/rate-limit.ts';
import { memoryRequestLimiter } from '../../src/services/limits/request-limiter.ts';
import { Browser, bearerRequest, buildHarness, type Harness } from '../web/helpers.ts';

const POLICY = '"default";q=6;w=60';
const FIELD = /^"default";r=(\d+);t=(\d+)$/;

function remaining(res: { headers: Record<string, unknown> }): number {
  const m = FIELD.exec(String(res.headers.ratelimit));
  assert.ok(m, `RateLimit field: ${String(res.headers.ratelimit)}`);
  const reset = Number(m[2]);
  assert.ok(reset >= 1 && reset <= 60, `t=${reset}`);
  return Number(m[1]);
}

describe('API rate limit', () => {
  let h: Harness;
  let tokenA: string;
  let tokenB: string;
  before(async () => {
    h = await buildHarness({ SDAPI_RATE_LIMIT: '6/60s' });
    const user = await h.services.users.create('limits@example.com', 'a-long-password');
    const app = await h.services.applications.create(user.id, 'limits');
    tokenA = (await h.services.applications.createToken(user.id, app.id, 'a')).token;
    tokenB = (await h.services.applications.createToken(user.id, app.id, 'b')).token;
  });
  after(() => h.close());

  it('every /api/v1 answer carries the fields, whatever its status; past the quota: 429, Retry-After and {"message":"Too Many Requests"}', async () => {
    const answers = [
      await bearerRequest(h.app, 'GET', '/api/v1/engines', tokenA),
      await bearerRequest(h.app, 'POST', '/api/v1/threads', tokenA, { ai_version_code: 'stablediffusion_text2img' }),
      await bearerRequest(h.app, 'POST', '/api/v1/threads', tokenA, { ai_version_code: 'nope' }),
      await bearerRequest(h.app, 'GET', '/api/v1/threads/not-a-thread', tokenA),
      await bearerRequest(h.app, 'GET', '/api/v1/no-such-route', tokenA),
      await h.app.inject({ method: 'POST', url: '/api/v1/threads', headers: { authorization: `Bearer ${tokenA}`, 'content-type': 'text/plain' }, payload: 'x' }),
    ];
    assert.deepEqual(answers.map((r) => r.statusCode), [200, 201, 422, 404, 404, 415]);
    for (const res of answers) assert.equal(res.headers['ratelimit-policy'], POLICY);
    assert.deepEqual(answers.map(remaining), [5, 4, 3, 2, 1, 0], 'each answer counts, errors too');

    const limited = await bearerRequest(h.app, 'GET', '/api/v1/engines', tokenA);
    assert.equal(limited.statusCode, 429);
    assert.deepEqual(limited.json(), { message: 'Too Many Requests' });
    assert.equal(limited.headers['ratelimit-policy'], POLICY);
    assert.equal(remaining(limited), 0);
    const retryAfter = Number(limited.headers['retry-after']);
    const reset = Number(FIELD.exec(String(limited.headers.ratelimit))?.[2]);
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= reset && retryAfter <= 60, `Retry-After ${retryAfter} is not earlier than t=${reset}`);
    const write = await bearerRequest(h.app, 'POST', '/api/v1/threads', tokenA, { ai_version_code: 'stablediffusion_text2img' });
    assert.equal(write.statusCode, 429, 'a limited write does nothing');
    assert.equal((await h.services.threads.list((await h.services.users.requireByEmail('limits@example.com')).id, { page: 1, perPage: 100 })).total, 1);
  });

  it("one token's burst does not touch another token of the same account, nor a browser session", async () => {
    const other = await bearerRequest(h.app, 'GET', '/api/v1/engines', tokenB);
    assert.equal(other.statusCode, 200);
    assert.equal(remaining(other), 5);
    const browser = new Browser(h.app);
    await browser.register('session-limit@example.com', 'a-long-password');
    const session = await browser.request('GET', '/api/v1/account');
    assert.equal(session.statusCode, 200);
    assert.equal(remaining(session), 5, 'the session has its own bucket (registering counted against the address)');
  });

  it('unauthenticated requests share one bucket per client address, so rotating bad tokens does not dodge the limit', async () => {
    const from = (address: string, token?: string) =>
      h.app.inject({ method: 'GET', url: '/api/v1/threads', remoteAddress: address, headers: token ? { authorization: `Bearer ${token}` } : {} });
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await from('10.20.0.1', i % 2 ? `sdapi_forged-${i}` : undefined));
    assert.deepEqual(answers.map((r) => r.statusCode), [401, 401, 401, 401, 401, 401]);
    assert.deepEqual(answers.map(remaining), [5, 4, 3, 2, 1, 0]);
    const blocked = await from('10.20.0.1', 'sdapi_yet-another-forgery');
    assert.equal(blocked.statusCode, 429);
    assert.equal((await from('10.20.0.1')).statusCode, 429);
    const login = await h.app.inject({ method: 'POST', url: '/api/v1/auth/login', remoteAddress: '10.20.0.1', payload: { email: 'limits@example.com', password: 'a-long-password' } });
    assert.equal(login.statusCode, 429, 'public routes count against the address too');
    assert.equal((await from('10.20.0.2')).statusCode, 401, 'another address has its own bucket');
    const valid = await h.app.inject({ method: 'GET', url: '/api/v1/threads', remoteAddress: '10.20.0.1', headers: { authorization: `Bearer ${tokenB}` } });
    assert.equal(valid.statusCode, 200, 'a valid token from the flooded address uses its own bucket');
  });

  it('pages, images, /docs and the operations routes are not limited and carry no RateLimit fields', async () => {
    for (const url of ['/', '/healthz', '/readyz', '/docs/', '/app/app.css', '/storage/x/none.png']) {
      for (let i = 0; i < 8; i++) {
        const res = await h.app.inject({ method: 'GET', url, remoteAddress: '10.20.9.9' });
        assert.ok(res.statusCode !== 429, `${url} → 429`);
        assert.equal(res.headers.ratelimit, undefined, url);
        assert.equal(res.headers['ratelimit-policy'], undefined, url);
      }
    }
  });

  it('the OpenAPI document gives every /api/v1 operation the RateLimit fields and a 429 with Retry-After', async () => {
    const doc = (await h.app.inject({ method: 'GET', url: '/api/v1/openapi.json', remoteAddress: '10.20.8.8' })).json();
    let operations = 0;
    for (const [path, item] of Object.entries<Record<string, { responses: Record<string, { headers?: Record<string, unknown> }> }>>(doc.paths)) {
      if (!path.startsWith('/api/v1/')) continue;
      for (const [method, operation] of Object.entries(item)) {
        operations++;
        const tooMany = operation.responses['429'];
        assert.ok(tooMany, `${method} ${path}: 429`);
        assert.ok(tooMany.headers?.['Retry-After'], `${method} ${path}: 429 Retry-After`);
        for (const [status, response] of Object.entries(operation.responses)) {
          assert.ok(response.headers?.RateLimit && response.headers['RateLimit-Policy'], `${method} ${path} ${status}: RateLimit fields`);
        }
      }
    }
    assert.ok(operations >= 17, `${operations} operations`);
  });
});

describe('API rate limit: off, and the reusable hook', () => {
  it('SDAPI_RATE_LIMIT=off: no limit and no fields', async () => {
    const h = await buildHarness({ SDAPI_RATE_LIMIT: 'off' });
    try {
      for (let i = 0; i < 20; i++) {
        const res = await h.app.inject({ method: 'GET', url: '/api/v1/auth/session' });
        assert.equal(res.statusCode, 200);
        assert.equal(res.headers.ratelimit, undefined);
      }
    } finally {
      await h.close();
    }
  });

  it('rateLimitHook limits any surface, with that surface\'s own error body', async () => {
    const app = Fastify();
    const limiter = memoryRequestLimiter({ name: 'sdapi-v1', quota: 2, windowSeconds: 30 });
    app.addHook('onRequest', rateLimitHook({ limiter, errorBody: (retry) => ({ name: 'rate_limited', errors: [`retry in ${retry} s`] }) }, (r) => r.ip));
    app.get('/v1/ping', async () => ({ ok: true }));
    try {
      const first = await app.inject({ method: 'GET', url: '/v1/ping' });
      assert.equal(first.headers['ratelimit-policy'], '"sdapi-v1";q=2;w=30');
      assert.match(String(first.headers.ratelimit), /^"sdapi-v1";r=1;t=\d+$/);
      await app.inject({ method: 'GET', url: '/v1/ping' });
      const limited = await app.inject({ method: 'GET', url: '/v1/ping' });
      assert.equal(limited.statusCode, 429);
      assert.equal(limited.json().name, 'rate_limited');
      assert.match(limited.json().errors[0], /^retry in \d+ s$/);
      assert.ok(Number(limited.headers['retry-after']) >= 1);
    } finally {
      await app.close();
    }
  });
});
