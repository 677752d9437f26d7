/**
 * Cancel (issue #9): a queued request is refunded in full; a running one stops at the next step, keeps the images
 * finished before the stop and is charged for those at the per-image price; a finished one is a 409; another
 * account's entry is a 404; a cancel racing the completion settles the request exactly once. The ledger is checked
 * every time. Also queue positions and the wait mode's timeout.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HeldGenerator } from '../helpers/held-generator.ts';
import { ScriptedGenerator } from '../helpers/scripted-generator.ts';
import { createApiContext, TUTORIAL_JSON, waitForResponse, type ApiContext } from '../helpers/api-context.ts';

// 3 images of 1024×1024 at 45 steps: 5 credits per image, 15 in all.
const REQUEST = { ...TUTORIAL_JSON, images: 3, steps: 45, seed: 11 };

async function newThread(ctx: ApiContext, token: string): Promise<string> {
  return (await ctx.request(token, { method: 'POST', url: '/api/v1/threads', payload: { ai_version_code: 'stablediffusion_text2img' } })).json().data.guid;
}
async function balance(ctx: ApiContext, token: string): Promise<number> {
  return (await ctx.request(token, { method: 'GET', url: '/api/v1/account' })).json().data.credits;
}
async function ledger(ctx: ApiContext, entryId: string): Promise<string[]> {
  const rows = await ctx.store.db.selectFrom('credit_ledger').select(['kind', 'amount', 'billed']).where('entry_id', '=', entryId).execute();
  return rows.map((r) => `${r.kind}:${r.amount}:${r.billed}`).sort();
}
async function post(ctx: ApiContext, token: string, thread: string, body: object = REQUEST) {
  const res = await ctx.request(token, { method: 'POST', url: `/api/v1/threads/${thread}/entry`, payload: body });
  assert.equal(res.statusCode, 201, res.body);
  return res.json().data;
}
async function cancel(ctx: ApiContext, token: string, thread: string, entry: string) {
  return ctx.request(token, { method: 'POST', url: `/api/v1/threads/${thread}/entries/${entry}/cancel` });
}

describe('cancel: queued requests, queue positions, wait mode timeout (no worker)', () => {
  let ctx: ApiContext;
  before(async () => {
    ctx = await createApiContext();
  });
  after(() => ctx.close());

  it('queued requests carry queue_position (other accounts count); cancelling one refunds it in full and moves the next up', async () => {
    const a = await ctx.user('queue-a@example.com', 100);
    const b = await ctx.user('queue-b@example.com', 100);
    const ta = await newThread(ctx, a.token);
    const tb = await newThread(ctx, b.token);
    const first = await post(ctx, a.token, ta);
    assert.equal(first.queue_position, 0);
    const other = await post(ctx, b.token, tb);
    assert.equal(other.queue_position, 1);
    const second = await post(ctx, a.token, ta);
    assert.equal(second.queue_position, 2);
    assert.equal(await balance(ctx, a.token), 70);

    const list = (await ctx.request(a.token, { method: 'GET', url: `/api/v1/threads/${ta}/entries` })).json().data;
    assert.deepEqual(list.map((e: any) => e.queue_position), [0, 2]);
    // The same from the service, by guid alone (what compatibility surfaces read); another account's is a 404.
    assert.equal((await ctx.services.entries.requestStatus(a.id, second.guid)).queuePosition, 2);
    await assert.rejects(ctx.services.entries.requestStatus(a.id, other.guid), { code: 'not_found' });
    await assert.rejects(ctx.services.entries.cancelEntry(a.id, other.guid), { code: 'not_found' });

    // Another account's entry (through its own thread or this one) is a 404, and nothing changes.
    assert.equal((await cancel(ctx, a.token, tb, other.guid)).statusCode, 404);
    assert.equal((await cancel(ctx, a.token, ta, other.guid)).statusCode, 404);
    assert.equal((await cancel(ctx, a.token, ta, 'nope')).statusCode, 404);
    assert.deepEqual(await ledger(ctx, other.guid), ['reserve:-15:15']);

    const res = await cancel(ctx, b.token, tb, other.guid);
    assert.equal(res.statusCode, 202, res.body);
    assert.equal(res.json().data.status, 'cancelled');
    assert.equal(res.json().data.waiting_response, false);
    assert.equal(await balance(ctx, b.token), 100);
    assert.deepEqual(await ledger(ctx, other.guid), ['refund:15:0', 'reserve:-15:15']);
    const entries = (await ctx.request(b.token, { method: 'GET', url: `/api/v1/threads/${tb}/entries` })).json().data;
    assert.equal(entries.length, 2);
    assert.equal(entries[1].status, 'cancelled');
    assert.equal(entries[1].request_guid, other.guid);
    assert.deepEqual(entries[1].content, []);
    assert.equal(entries[1].credits, 0);
    const job = await ctx.store.db.selectFrom('jobs').select('status').where('entry_id', '=', other.guid).executeTakeFirstOrThrow();
    assert.equal(job.status, 'cancelled');

    const moved = (await ctx.request(a.token, { method: 'GET', url: `/api/v1/threads/${ta}/entries` })).json().data;
    assert.deepEqual(moved.map((e: any) => e.queue_position), [0, 1]);
    const byGuid = await ctx.services.entries.cancelEntry(a.id, second.guid);
    assert.equal(byGuid.state, 'cancelled');
    assert.equal(byGuid.entry.status, 'cancelled');
    assert.equal(await balance(ctx, a.token), 85);

    // Cancelling it again (or through its response) is a 409: it has finished.
    assert.equal((await cancel(ctx, b.token, tb, other.guid)).statusCode, 409);
    assert.equal((await cancel(ctx, b.token, tb, entries[1].guid)).statusCode, 409);
    assert.deepEqual(await ledger(ctx, other.guid), ['refund:15:0', 'reserve:-15:15']);
  });

  it('wait mode: without a response in time the answer is the usual 201, without Preference-Applied', async () => {
    const u = await ctx.user('waiter@example.com', 100);
    const thread = await newThread(ctx, u.token);
    const res = await ctx.request(u.token, { method: 'POST', url: `/api/v1/threads/${thread}/entry`, headers: { prefer: 'wait=1' }, payload: REQUEST });
    assert.equal(res.statusCode, 201);
    assert.equal(res.headers['preference-applied'], undefined);
    assert.equal(res.json().data.status, 'queued');
    assert.equal(res.json().response, undefined);
  });
});

describe('cancel: running requests (scripted generator, in-process worker)', () => {
  let ctx: ApiContext;
  let generator: ScriptedGenerator;
  before(async () => {
    generator = new ScriptedGenerator(0);
    ctx = await createApiContext({ worker: true, overrides: { generator } });
  });
  after(() => ctx.close());

  it('stops at the next step, keeps the finished image and charges it at the per-image price; the rest is refunded', async () => {
    const u = await ctx.user('runner@example.com', 100);
    const thread = await newThread(ctx, u.token);
    const entry = await post(ctx, u.token, thread);
    await generator.holding; // image 0 is done, image 1 has not started
    const res = await cancel(ctx, u.token, thread, entry.guid);
    assert.equal(res.statusCode, 202, res.body);
    const entries = await waitForResponse(ctx, u.token, thread, 30_000);
    const [request, response] = entries;
    assert.equal(request.status, 'cancelled');
    assert.equal(response.status, 'cancelled');
    assert.equal(response.error, 'The request was cancelled.');
    assert.equal(response.content.length, 1);
    assert.equal(response.content[0].seed, 11);
    assert.equal(response.credits, 5);
    assert.equal(await balance(ctx, u.token), 95);
    assert.deepEqual(await ledger(ctx, entry.guid), ['charge:0:5', 'refund:10:0', 'reserve:-15:15']);
    const image = await ctx.request(null, { method: 'GET', url: new URL(response.content[0].url).pathname });
    assert.equal(image.statusCode, 200);
    const gallery = (await ctx.request(u.token, { method: 'GET', url: '/api/v1/images' })).json().data;
    assert.equal(gallery.length, 1);
    const job = await ctx.store.db.selectFrom('jobs').select('status').where('entry_id', '=', entry.guid).executeTakeFirstOrThrow();
    assert.equal(job.status, 'cancelled');
    assert.equal((await cancel(ctx, u.token, thread, entry.guid)).statusCode, 409);
  });
});

describe('cancel: finished requests and a cancel racing the completion (real engine)', () => {
  let ctx: ApiContext;
  let held: HeldGenerator | undefined;
  before(async () => {
    ctx = await createApiContext({ worker: true, overrides: { wrapGenerator: (g) => (held = new HeldGenerator(g)) } });
  });
  after(() => ctx.close());

  it('a finished request is a 409 and its ledger does not change', async () => {
    const u = await ctx.user('finished@example.com', 100);
    const thread = await newThread(ctx, u.token);
    const entry = await post(ctx, u.token, thread, { ...REQUEST, images: 1, steps: 10 });
    held!.release();
    await waitForResponse(ctx, u.token, thread);
    const before = await ledger(ctx, entry.guid);
    assert.deepEqual(before, ['charge:0:1', 'reserve:-1:1']);
    const res = await cancel(ctx, u.token, thread, entry.guid);
    assert.equal(res.statusCode, 409);
    assert.equal(res.json().code, 'conflict');
    assert.deepEqual(await ledger(ctx, entry.guid), before);
  });

  it('cancels racing completions: each request is settled exactly once, and reserve = charge + refund', async () => {
    const u = await ctx.user('racer@example.com', 1000);
    const thread = await newThread(ctx, u.token);
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await post(ctx, u.token, thread, { ...REQUEST, images: 2, steps: 10 })).guid);
    // Cancel every request while the worker runs them one after another (already released): some cancels hit a
    // queued job, some a running one, some a finished one.
    const answers = await Promise.all(ids.map((id) => cancel(ctx, u.token, thread, id)));
    for (const a of answers) assert.ok([202, 409].includes(a.statusCode), a.body);
    const deadline = Date.now() + 120_000;
    let entries: any[] = [];
    while (Date.now() < deadline) {
      entries = (await ctx.request(u.token, { method: 'GET', url: `/api/v1/threads/${thread}/entries` })).json().data;
      if (entries.filter((e) => e.type === 'response').length === ids.length) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    let spent = 0;
    for (const id of ids) {
      const responses = entries.filter((e) => e.request_guid === id);
      assert.equal(responses.length, 1, `one response for ${id}`);
      const rows = await ctx.store.db.selectFrom('credit_ledger').select(['kind', 'amount', 'billed']).where('entry_id', '=', id).execute();
      const reserved = rows.filter((r) => r.kind === 'reserve').reduce((s, r) => s + Number(r.billed), 0);
      const charged = rows.filter((r) => r.kind === 'charge').reduce((s, r) => s + Number(r.billed), 0);
      const refunded = rows.filter((r) => r.kind === 'refund').reduce((s, r) => s + Number(r.amount), 0);
      assert.equal(reserved, 2);
      assert.equal(charged + refunded, reserved, JSON.stringify(rows));
      assert.equal(charged, responses[0].credits);
      assert.equal(charged, responses[0].content.length, 'one credit per delivered image');
      spent += charged;
    }
    assert.equal(await balance(ctx, u.token), 1000 - spent);
  });
});
