import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createApiContext, formBody, TUTORIAL_JSON, type ApiContext } from '../helpers/api-context.ts';
import { steppingClock } from '../helpers/clock.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const STAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

describe('threads API', () => {
  let ctx: ApiContext;
  let alice: { id: string; token: string };
  let bob: { id: string; token: string };

  before(async () => {
    // Every reading of the clock is 1 ms later: threads created one after another have distinct, ordered times.
    ctx = await createApiContext({ overrides: { clock: steppingClock() } });
    alice = await ctx.user('alice@example.com', 1000);
    bob = await ctx.user('bob@example.com', 1000);
  });
  after(() => ctx.close());

  it('POST /threads with a form body returns the thread in a data envelope', async () => {
    const res = await ctx.request(alice.token, {
      method: 'POST',
      url: '/api/v1/threads',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: formBody({ ai_version_code: 'stablediffusion_text2img' }),
    });
    assert.equal(res.statusCode, 201);
    const { data } = res.json();
    assert.deepEqual(Object.keys(data).sort(), ['ai_code', 'ai_version_code', 'created_at', 'guid', 'title', 'updated_at']);
    assert.match(data.guid, UUID);
    assert.equal(data.ai_code, 'stablediffusion');
    assert.equal(data.ai_version_code, 'stablediffusion_text2img');
    assert.equal(data.title, 'New thread with Stable Diffusion Image Generation');
    assert.match(data.created_at, STAMP);
    assert.match(data.updated_at, STAMP);
  });

  it('POST /threads accepts JSON and multipart the same way', async () => {
    const json = await ctx.request(alice.token, { method: 'POST', url: '/api/v1/threads', payload: { ai_version_code: 'stablediffusion_text2img' } });
    assert.equal(json.statusCode, 201);
    const boundary = 'xyzBOUNDARY';
    const multipart = await ctx.request(alice.token, {
      method: 'POST',
      url: '/api/v1/threads',
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
      payload: `--${boundary}\r\nContent-Disposition: form-data; name="ai_version_code"\r\n\r\nstablediffusion_text2img\r\n--${boundary}--\r\n`,
    });
    assert.equal(multipart.statusCode, 201);
    assert.equal(multipart.json().data.ai_version_code, 'stablediffusion_text2img');
  });

  it('POST /threads rejects a missing or unknown ai_version_code with 422 naming the field', async () => {
    for (const payload of [{}, { ai_version_code: 'gpt-4' }]) {
      const res = await ctx.request(alice.token, { method: 'POST', url: '/api/v1/threads', payload });
      assert.equal(res.statusCode, 422);
      const body = res.json();
      assert.equal(typeof body.message, 'string');
      assert.ok(Array.isArray(body.errors.ai_version_code), JSON.stringify(body));
    }
  });

  it('GET /threads lists only the caller’s threads, newest first, with pagination meta', async () => {
    const fresh = await ctx.user('lister@example.com');
    const guids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await ctx.request(fresh.token, { method: 'POST', url: '/api/v1/threads', payload: { ai_version_code: 'stablediffusion_text2img' } });
      guids.push(res.json().data.guid);
    }
    const all = await ctx.request(fresh.token, { method: 'GET', url: '/api/v1/threads' });
    assert.equal(all.statusCode, 200);
    assert.deepEqual(all.json().data.map((t: { guid: string }) => t.guid), [...guids].reverse());
    assert.deepEqual(all.json().meta, { current_page: 1, per_page: 20, total: 3, last_page: 1 });
    const page2 = await ctx.request(fresh.token, { method: 'GET', url: '/api/v1/threads?page=2&per_page=2' });
    assert.deepEqual(page2.json().data.map((t: { guid: string }) => t.guid), [guids[0]]);
    assert.deepEqual(page2.json().meta, { current_page: 2, per_page: 2, total: 3, last_page: 2 });
    const bad = await ctx.request(fresh.token, { method: 'GET', url: '/api/v1/threads?per_page=1000' });
    assert.equal(bad.statusCode, 422);
    assert.ok(bad.json().errors.per_page);
  });

  it('GET /threads/{guid} returns the thread; unknown and malformed guids are 404', async () => {
    const created = (await ctx.request(alice.token, { method: 'POST', url: '/api/v1/threads', payload: { ai_version_code: 'stablediffusion_text2img' } })).json().data;
    const res = await ctx.request(alice.token, { method: 'GET', url: `/api/v1/threads/${created.guid}` });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json().data, created);
    for (const guid of ['6b0f4f7e-0000-4000-8000-000000000000', 'not-a-uuid', "1'%20OR%201=1"]) {
      const missing = await ctx.request(alice.token, { method: 'GET', url: `/api/v1/threads/${guid}` });
      assert.equal(missing.statusCode, 404);
      assert.equal(typeof missing.json().message, 'string');
    }
  });

  it('another account gets 404 for the thread, its entries, a new entry and delete, and cannot see it in lists', async () => {
    const thread = (await ctx.request(alice.token, { method: 'POST', url: '/api/v1/threads', payload: { ai_version_code: 'stablediffusion_text2img' } })).json().data;
    const entry = await ctx.request(alice.token, { method: 'POST', url: `/api/v1/threads/${thread.guid}/entry`, payload: TUTORIAL_JSON });
    assert.equal(entry.statusCode, 201);
    const bobBalance = (await ctx.request(bob.token, { method: 'GET', url: '/api/v1/account' })).json().data.credits;

    const attempts = [
      { method: 'GET', url: `/api/v1/threads/${thread.guid}` },
      { method: 'GET', url: `/api/v1/threads/${thread.guid}/entries` },
      { method: 'POST', url: `/api/v1/threads/${thread.guid}/entry`, payload: TUTORIAL_JSON },
      { method: 'DELETE', url: `/api/v1/threads/${thread.guid}` },
    ] as const;
    for (const a of attempts) {
      const res = await ctx.request(bob.token, { ...a });
      assert.equal(res.statusCode, 404, `${a.method} ${a.url}`);
      assert.doesNotMatch(res.body, /Delorean/);
    }
    const list = (await ctx.request(bob.token, { method: 'GET', url: '/api/v1/threads' })).json();
    assert.ok(!list.data.some((t: { guid: string }) => t.guid === thread.guid));
    // Bob was not charged and Alice's thread is intact.
    assert.equal((await ctx.request(bob.token, { method: 'GET', url: '/api/v1/account' })).json().data.credits, bobBalance);
    const still = await ctx.request(alice.token, { method: 'GET', url: `/api/v1/threads/${thread.guid}/entries` });
    assert.equal(still.statusCode, 200);
    assert.equal(still.json().data.length, 1);
  });

  it('DELETE /threads/{guid} deletes the thread and its entries, refunding a request still queued', async () => {
    const user = await ctx.user('deleter@example.com', 50);
    const thread = (await ctx.request(user.token, { method: 'POST', url: '/api/v1/threads', payload: { ai_version_code: 'stablediffusion_text2img' } })).json().data;
    await ctx.request(user.token, { method: 'POST', url: `/api/v1/threads/${thread.guid}/entry`, payload: TUTORIAL_JSON });
    assert.equal((await ctx.request(user.token, { method: 'GET', url: '/api/v1/account' })).json().data.credits, 40);
    const res = await ctx.request(user.token, { method: 'DELETE', url: `/api/v1/threads/${thread.guid}` });
    assert.equal(res.statusCode, 204);
    assert.equal(res.body, '');
    assert.equal((await ctx.request(user.token, { method: 'GET', url: `/api/v1/threads/${thread.guid}` })).statusCode, 404);
    assert.equal((await ctx.request(user.token, { method: 'GET', url: `/api/v1/threads/${thread.guid}/entries` })).statusCode, 404);
    assert.equal((await ctx.request(user.token, { method: 'DELETE', url: `/api/v1/threads/${thread.guid}` })).statusCode, 404);
    const rows = await ctx.store.db.selectFrom('entries').select('id').where('thread_id', '=', thread.guid).execute();
    assert.equal(rows.length, 0);
    assert.equal((await ctx.request(user.token, { method: 'GET', url: '/api/v1/account' })).json().data.credits, 50);
    const jobs = await ctx.store.db.selectFrom('jobs').select('status').where('user_id', '=', user.id).execute();
    assert.deepEqual(jobs.map((j) => j.status), ['cancelled']);
  });
});

describe('authentication', () => {
  let ctx: ApiContext;
  before(async () => {
    ctx = await createApiContext();
  });
  after(() => ctx.close());

  it('every API route answers 401 {"message":"Unauthenticated."} without a valid bearer token', async () => {
    const guid = '6b0f4f7e-0000-4000-8000-000000000000';
    const routes = [
      ['GET', '/api/v1/threads'],
      ['POST', '/api/v1/threads'],
      ['GET', `/api/v1/threads/${guid}`],
      ['DELETE', `/api/v1/threads/${guid}`],
      ['POST', `/api/v1/threads/${guid}/entry`],
      ['GET', `/api/v1/threads/${guid}/entries`],
      ['GET', '/api/v1/engines'],
      ['GET', '/api/v1/account'],
    ] as const;
    for (const [method, url] of routes) {
      for (const authorization of [undefined, 'Bearer ', 'Bearer sdapi_wrong', 'Basic dXNlcjpwYXNz', 'sdapi_notbearer']) {
        const res = await ctx.app.inject({ method, url, headers: authorization ? { authorization } : {}, payload: method === 'POST' ? {} : undefined });
        assert.equal(res.statusCode, 401, `${method} ${url} ${authorization}`);
        assert.deepEqual(res.json(), { message: 'Unauthenticated.' });
      }
    }
  });

  it('a revoked token is rejected', async () => {
    const user = await ctx.services.users.create('revoked@example.com', 'correct horse battery');
    const app = await ctx.services.applications.create(user.id, 'x');
    const token = await ctx.services.applications.createToken(user.id, app.id);
    assert.equal((await ctx.request(token.token, { method: 'GET', url: '/api/v1/account' })).statusCode, 200);
    await ctx.services.applications.revokeToken(user.id, app.id, token.id);
    assert.equal((await ctx.request(token.token, { method: 'GET', url: '/api/v1/account' })).statusCode, 401);
  });
});
