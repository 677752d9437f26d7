/**
 * The polling path's shortcuts: GET …/entries is served from a per-thread JSON cache checked against the thread's
 * entries version, GET /engines from a serialised list, and requests log one line each. None may ever show a stale
 * list, another account's thread, or lose a log line that matters.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { buildHttpApp, openRuntime } from '../../src/composition/runtime.ts';
import { createApiContext, TUTORIAL_JSON, type ApiContext } from '../helpers/api-context.ts';
import { stubGenerator } from '../web/helpers.ts';

describe('GET …/entries from the version-checked cache', () => {
  let ctx: ApiContext;
  let user: { id: string; token: string };
  let thread: string;
  before(async () => {
    ctx = await createApiContext();
    user = await ctx.user('poller@example.com', 1000);
    thread = (await ctx.request(user.token, { method: 'POST', url: '/api/v1/threads', payload: { ai_version_code: 'stablediffusion_text2img' } })).json().data.guid;
  });
  after(() => ctx.close());

  const list = async (token = user.token) => ctx.request(token, { method: 'GET', url: `/api/v1/threads/${thread}/entries` });

  it('shows every change at once: a new request, running, progress and the response', async () => {
    assert.deepEqual((await list()).json().data, []);
    const created = await ctx.request(user.token, { method: 'POST', url: `/api/v1/threads/${thread}/entry`, payload: { ...TUTORIAL_JSON, images: 1, steps: 10 } });
    assert.equal(created.statusCode, 201);
    const queued = await list();
    assert.equal(queued.json().data[0].status, 'queued');
    assert.equal(queued.headers['retry-after'], '1');
    assert.equal((await list()).body, queued.body, 'unchanged: the same list');

    const claimed = await ctx.runtime.queue.claim();
    assert.ok(claimed && claimed.invalid === undefined);
    assert.equal(await ctx.services.entries.start(claimed.job), true);
    assert.equal((await list()).json().data[0].status, 'running');

    const report = ctx.services.entries.progressReporter(claimed.job);
    report({ step: 10, steps: 10, image: 0, images: 1 });
    for (let i = 0; i < 100 && (await list()).json().data[0].progress === null; i++) await new Promise((r) => setImmediate(r));
    assert.deepEqual((await list()).json().data[0].progress, { step: 10, steps: 10, image: 0, images: 1 });

    assert.equal(await ctx.services.entries.fail(claimed.job, 'Image generation failed: test'), 'failed');
    const done = await list();
    assert.deepEqual(
      done.json().data.map((e: { type: string; status: string }) => `${e.type}:${e.status}`),
      ['request:failed', 'response:failed'],
    );
    assert.equal(done.headers['retry-after'], undefined);
  });

  it('sees a change written by another process on the same database', async () => {
    const before = (await list()).json().data.length;
    const other = await openRuntime(ctx.config, { generator: stubGenerator });
    try {
      await other.services.entries.createRequest(user.id, { threadId: thread, body: { ...TUTORIAL_JSON, images: 1, steps: 10 } });
    } finally {
      await other.close();
    }
    assert.equal((await list()).json().data.length, before + 1);
  });

  it("never serves one account's cached list to another", async () => {
    await list();
    const mallory = await ctx.user('mallory@example.com');
    const res = await list(mallory.token);
    assert.equal(res.statusCode, 404);
    assert.doesNotMatch(res.body, /Delorean/);
    const deleted = await ctx.request(user.token, { method: 'DELETE', url: `/api/v1/threads/${thread}` });
    assert.equal(deleted.statusCode, 204);
    assert.equal((await list()).statusCode, 404, 'a deleted thread is gone, cached or not');
  });
});

describe('request logging', () => {
  it('writes one line per request: writes and failures at info, successful reads only at debug', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(JSON.parse(String(chunk))), done()) });
    const ctx = await createApiContext();
    const app = await buildHttpApp(ctx.runtime, { logger: pino({ level: 'info' }, sink) });
    try {
      const user = await ctx.user('logged@example.com');
      const auth = { authorization: `Bearer ${user.token}` };
      assert.equal((await app.inject({ method: 'GET', url: '/api/v1/threads', headers: auth })).statusCode, 200);
      assert.equal((await app.inject({ method: 'POST', url: '/api/v1/threads', headers: auth, payload: { ai_version_code: 'stablediffusion_text2img' } })).statusCode, 201);
      assert.equal((await app.inject({ method: 'GET', url: '/api/v1/threads/not-a-thread', headers: auth })).statusCode, 404);
      const requests = lines.filter((l) => l.msg === 'request');
      assert.deepEqual(
        requests.map((l) => `${l.method} ${l.statusCode}`),
        ['POST 201', 'GET 404'],
      );
      assert.ok(requests.every((l) => typeof l.reqId === 'string' && typeof l.responseTime === 'number'));
      assert.equal(lines.filter((l) => l.msg === 'incoming request').length, 0, 'no second line per request');
      app.log.level = 'debug';
      await app.inject({ method: 'GET', url: '/api/v1/threads', headers: auth });
      assert.equal(lines.filter((l) => l.msg === 'request' && l.method === 'GET' && l.statusCode === 200).length, 1, 'reads are logged at debug');
    } finally {
      await app.close();
      await ctx.close();
    }
  });
});
