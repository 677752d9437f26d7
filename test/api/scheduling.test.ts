/**
 * Fair scheduling through the API (issue #10): GET /account shows the account's priority, caps and its own running
 * and queued counts; a request beyond max_queued answers 429 with Retry-After and holds nothing; queue positions
 * follow the fair order rather than arrival. No worker runs, so every request stays queued.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createApiContext, type ApiContext } from '../helpers/api-context.ts';

const REQUEST = { engine: 'stable-diffusion-v1-6', resolution: '512x512', prompts: [{ text: 'a lighthouse', weight: 1 }], images: 1, steps: 10 };

describe('fair scheduling through the API', () => {
  let ctx: ApiContext;
  before(async () => {
    ctx = await createApiContext();
  });
  after(() => ctx.close());

  const account = async (token: string) => (await ctx.request(token, { method: 'GET', url: '/api/v1/account' })).json().data;
  async function post(token: string) {
    const thread = (await ctx.request(token, { method: 'POST', url: '/api/v1/threads', payload: { ai_version_code: 'stablediffusion_text2img' } })).json().data.guid;
    return ctx.request(token, { method: 'POST', url: `/api/v1/threads/${thread}/entry`, payload: REQUEST });
  }

  it('GET /account shows the defaults, then what the operator set, and only the caller\'s own counts', async () => {
    const alice = await ctx.user('alice-sched@example.com', 100);
    const bob = await ctx.user('bob-sched@example.com', 100);
    assert.deepEqual(await account(alice.token), { email: 'alice-sched@example.com', credits: 100, priority: 'normal', max_running: 2, max_queued: 20, running: 0, queued: 0 });
    for (let i = 0; i < 3; i++) assert.equal((await post(alice.token)).statusCode, 201);
    await ctx.services.scheduling.set(alice.id, { priority: 'high', maxRunning: 4, maxQueued: 7 });
    assert.deepEqual(await account(alice.token), { email: 'alice-sched@example.com', credits: 97, priority: 'high', max_running: 4, max_queued: 7, running: 0, queued: 3 });
    assert.equal((await account(bob.token)).queued, 0, "another account's queue is not shown");
  });

  it('a request beyond max_queued answers 429 with Retry-After and a message, reserving and writing nothing', async () => {
    const user = await ctx.user('capped-sched@example.com', 100);
    await ctx.services.scheduling.set(user.id, { maxQueued: 2 });
    assert.equal((await post(user.token)).statusCode, 201);
    assert.equal((await post(user.token)).statusCode, 201);
    const refused = await post(user.token);
    assert.equal(refused.statusCode, 429, refused.body);
    assert.ok(Number(refused.headers['retry-after']) > 0, `Retry-After: ${refused.headers['retry-after']}`);
    assert.match(refused.json().message, /2 waiting/);
    assert.equal(refused.json().code, 'rate_limited');
    const after = await account(user.token);
    assert.equal(after.credits, 98, 'nothing reserved for the refused request');
    assert.equal(after.queued, 2);
    const entries = await ctx.store.db.selectFrom('entries').select('id').where('user_id', '=', user.id).execute();
    assert.equal(entries.length, 2, 'no entry written for the refused request');

    // Concurrent requests cannot overshoot the cap: it is counted under the account's lock.
    await ctx.services.scheduling.set(user.id, { maxQueued: 5 });
    const answers = await Promise.all(Array.from({ length: 8 }, () => post(user.token)));
    assert.deepEqual(answers.map((a) => a.statusCode).sort(), [201, 201, 201, 429, 429, 429, 429, 429]);
    assert.equal((await account(user.token)).queued, 5);
  });

  it('bad settings are refused naming each field', async () => {
    const user = await ctx.user('bad-sched@example.com', 0);
    await assert.rejects(ctx.services.scheduling.set(user.id, { priority: 'urgent', maxRunning: 0, maxQueued: -1 }), (err: any) => {
      assert.equal(err.status, 422);
      assert.deepEqual(Object.keys(err.fields).sort(), ['max_queued', 'max_running', 'priority']);
      return true;
    });
  });

  it('queue positions follow the fair order: a light account\'s request goes ahead of a heavy account\'s backlog', async () => {
    const heavy = await ctx.user('heavy-sched@example.com', 100);
    const light = await ctx.user('light-sched@example.com', 100);
    await ctx.store.db.deleteFrom('jobs').execute();
    const heavyEntries = [];
    for (let i = 0; i < 4; i++) heavyEntries.push((await post(heavy.token)).json().data.guid);
    const lightEntry = (await post(light.token)).json().data.guid;
    const positions = await ctx.services.scheduling.queuePositions('stable-diffusion-v1-6');
    assert.deepEqual([...heavyEntries.map((e) => positions.get(e)), positions.get(lightEntry)], [0, 2, 3, 4, 1]);
    assert.equal(await ctx.services.scheduling.queuePosition('stable-diffusion-v1-6', lightEntry), 1);
    assert.equal(await ctx.services.scheduling.queuePosition('stable-diffusion-v1-6', heavyEntries[3]), 4);
    assert.equal(await ctx.services.scheduling.queuePosition('stable-diffusion-v1-6', 'not-an-entry'), undefined);
    assert.equal(await ctx.services.scheduling.queuePosition('another-engine', lightEntry), undefined);
  });
});
