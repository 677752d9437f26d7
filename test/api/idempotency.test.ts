import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fingerprint } from '../../src/services/idempotency/idempotency.ts';
import { createApiContext, formBody, type ApiContext } from '../helpers/api-context.ts';
import { steppingClock, type TestClock } from '../helpers/clock.ts';

/** Costs 1 credit on the default engines. */
const SMALL = { engine: 'stable-diffusion-v1-6', resolution: '512x512', prompts: [{ text: 'a red circle', weight: 1 }], images: 1, steps: 10 };
const SMALL_FORM = { engine: SMALL.engine, resolution: SMALL.resolution, 'prompts[0][text]': 'a red circle', 'prompts[0][weight]': '1', images: '1', steps: '10' };

describe('Idempotency-Key on POST /threads and POST /threads/{guid}/entry', () => {
  let ctx: ApiContext;
  let clock: TestClock;
  let alice: { id: string; token: string };
  let bob: { id: string; token: string };

  before(async () => {
    clock = steppingClock(Date.now(), 0);
    ctx = await createApiContext({ overrides: { clock } });
    alice = await ctx.user('alice@example.com', 1000);
    bob = await ctx.user('bob@example.com', 1000);
  });
  after(() => ctx.close());

  async function thread(token = alice.token): Promise<string> {
    return (await ctx.request(token, { method: 'POST', url: '/api/v1/threads', payload: { ai_version_code: 'stablediffusion_text2img' } })).json().data.guid;
  }
  const balance = async (token = alice.token): Promise<number> => (await ctx.request(token, { method: 'GET', url: '/api/v1/account' })).json().data.credits;
  const entries = async (t: string, token = alice.token): Promise<{ guid: string }[]> => (await ctx.request(token, { method: 'GET', url: `/api/v1/threads/${t}/entries` })).json().data;
  const post = (t: string, key: string | undefined, payload: object, token = alice.token) =>
    ctx.request(token, { method: 'POST', url: `/api/v1/threads/${t}/entry`, headers: key === undefined ? {} : { 'idempotency-key': key }, payload });

  it('20 concurrent POSTs with one key make one entry and one charge', async () => {
    const t = await thread();
    const before = await balance();
    const answers = await Promise.all(Array.from({ length: 20 }, () => post(t, 'concurrent-1', SMALL)));
    const statuses = answers.map((r) => r.statusCode);
    assert.ok(statuses.every((s) => s === 201 || s === 409), statuses.join(','));
    const created = answers.filter((r) => r.statusCode === 201);
    assert.ok(created.length >= 1);
    assert.equal(new Set(created.map((r) => r.json().data.guid)).size, 1, 'every 201 names the same entry');
    assert.equal(created.filter((r) => r.headers['idempotent-replayed'] === undefined).length, 1, 'one of them made it');
    for (const conflict of answers.filter((r) => r.statusCode === 409)) assert.equal(conflict.json().code, 'conflict');
    assert.equal((await entries(t)).length, 1);
    assert.equal(await balance(), before - 1, 'charged (reserved) once');
    const ledger = (await ctx.services.credits.listLedger(alice.id)).items.filter((l) => l.kind === 'reserve' && l.entryId === created[0].json().data.guid);
    assert.equal(ledger.length, 1);
    // Once finished, a repeat replays the first answer.
    const again = await post(t, 'concurrent-1', SMALL);
    assert.equal(again.statusCode, 201);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.deepEqual(again.json(), created.find((r) => r.headers['idempotent-replayed'] === undefined)?.json());
  });

  it('the same request as a form and as JSON replays the first answer', async () => {
    const t = await thread();
    const first = await ctx.request(alice.token, {
      method: 'POST',
      url: `/api/v1/threads/${t}/entry`,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'idempotency-key': 'form-then-json' },
      payload: formBody(SMALL_FORM),
    });
    assert.equal(first.statusCode, 201, first.body);
    assert.equal(first.headers['idempotent-replayed'], undefined);
    const before = await balance();
    const second = await post(t, 'form-then-json', SMALL);
    assert.equal(second.statusCode, 201, second.body);
    assert.equal(second.headers['idempotent-replayed'], 'true');
    assert.deepEqual(second.json(), first.json());
    assert.equal(await balance(), before);
    assert.equal((await entries(t)).length, 1);
  });

  it('the same key with a different request answers 422 naming the header', async () => {
    const t = await thread();
    assert.equal((await post(t, 'changed-body', SMALL)).statusCode, 201);
    const other = await post(t, 'changed-body', { ...SMALL, prompts: [{ text: 'a green triangle', weight: 1 }] });
    assert.equal(other.statusCode, 422, other.body);
    assert.deepEqual(Object.keys(other.json().errors), ['idempotency-key']);
    const elsewhere = await post(await thread(), 'changed-body', SMALL);
    assert.equal(elsewhere.statusCode, 422, 'another thread is another request');
    assert.equal((await entries(t)).length, 1);
  });

  it('a key whose first use failed validation can be used again', async () => {
    const t = await thread();
    const bad = await post(t, 'fix-and-retry', { ...SMALL, steps: 0 });
    assert.equal(bad.statusCode, 422);
    assert.deepEqual(Object.keys(bad.json().errors), ['steps']);
    const good = await post(t, 'fix-and-retry', SMALL);
    assert.equal(good.statusCode, 201, good.body);
    assert.equal(good.headers['idempotent-replayed'], undefined, 'made now, not replayed');
    // A 404 (no such thread) does not use up the key either.
    const missing = await post('00000000-0000-4000-8000-000000000000', 'not-found-first', SMALL);
    assert.equal(missing.statusCode, 404);
    assert.equal((await post(t, 'not-found-first', SMALL)).headers['idempotent-replayed'], undefined);
  });

  it('keys are per account, and POST /threads replays the same thread', async () => {
    const headers = { 'idempotency-key': 'open-thread' };
    const a1 = await ctx.request(alice.token, { method: 'POST', url: '/api/v1/threads', headers, payload: { ai_version_code: 'stablediffusion_text2img' } });
    const a2 = await ctx.request(alice.token, {
      method: 'POST',
      url: '/api/v1/threads',
      headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
      payload: formBody({ ai_version_code: 'stablediffusion_text2img' }),
    });
    const b1 = await ctx.request(bob.token, { method: 'POST', url: '/api/v1/threads', headers, payload: { ai_version_code: 'stablediffusion_text2img' } });
    assert.equal(a1.statusCode, 201);
    assert.equal(a2.statusCode, 201);
    assert.equal(a2.headers['idempotent-replayed'], 'true');
    assert.equal(a2.json().data.guid, a1.json().data.guid);
    assert.equal(b1.statusCode, 201);
    assert.equal(b1.headers['idempotent-replayed'], undefined, "bob's key is his own");
    assert.notEqual(b1.json().data.guid, a1.json().data.guid);
    const other = await ctx.request(alice.token, { method: 'POST', url: '/api/v1/threads', headers, payload: { ai_version_code: 'bogus' } });
    assert.equal(other.statusCode, 422, 'bad input is refused before the key is looked at');
  });

  it('a key longer than 255 characters is a 422 naming the header', async () => {
    const t = await thread();
    const res = await post(t, 'k'.repeat(256), SMALL);
    assert.equal(res.statusCode, 422);
    assert.ok(res.json().errors['idempotency-key'], res.body);
    const both = await post(t, 'k'.repeat(256), { ...SMALL, steps: 0 });
    assert.deepEqual(Object.keys(both.json().errors).sort(), ['idempotency-key', 'steps']);
    assert.equal((await post(t, 'k'.repeat(255), SMALL)).statusCode, 201);
    const threads = await ctx.request(alice.token, { method: 'POST', url: '/api/v1/threads', headers: { 'idempotency-key': 'k'.repeat(256) }, payload: { ai_version_code: 'stablediffusion_text2img' } });
    assert.equal(threads.statusCode, 422);
  });

  it('keys expire after 24 h: the same key then makes a new entry', async () => {
    const t = await thread();
    const first = await post(t, 'expiring', SMALL);
    clock.advance(24 * 3600_000 - 1000);
    assert.equal((await post(t, 'expiring', SMALL)).headers['idempotent-replayed'], 'true');
    clock.advance(2000);
    const later = await post(t, 'expiring', SMALL);
    assert.equal(later.statusCode, 201);
    assert.equal(later.headers['idempotent-replayed'], undefined);
    assert.notEqual(later.json().data.guid, first.json().data.guid);
    assert.equal(await ctx.services.housekeeping.sweep().then((r) => r.idempotencyKeys >= 0), true);
  });

  it('a refusal for want of credits is stored and replayed; the key is not charged twice once credits arrive', async () => {
    const poor = await ctx.user('poor@example.com', 0);
    const t = await thread(poor.token);
    const refused = await post(t, 'no-credits', SMALL, poor.token);
    assert.equal(refused.statusCode, 402);
    await ctx.services.credits.grant(poor.id, 10, 'test');
    const replay = await post(t, 'no-credits', SMALL, poor.token);
    assert.equal(replay.statusCode, 402);
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    assert.equal(replay.json().message, refused.json().message);
    assert.equal(await balance(poor.token), 10);
  });

  it('a duplicate while the first is still processing answers 409; a key abandoned by a crashed request is taken over after its lock', async () => {
    const key = 'held-open';
    const print = fingerprint('POST /threads', { ai_version_code: 'stablediffusion_text2img' });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    // A first request that has claimed the key and not finished (its work waits on the gate).
    const first = ctx.services.idempotency.run(
      { userId: alice.id, key, fingerprint: print },
      async () => {
        entered();
        await gate;
        return { status: 201, value: 'never stored' };
      },
      String,
    );
    await inside;
    const dup = await ctx.request(alice.token, { method: 'POST', url: '/api/v1/threads', headers: { 'idempotency-key': key }, payload: { ai_version_code: 'stablediffusion_text2img' } });
    assert.equal(dup.statusCode, 409, dup.body);
    // The first request "crashed" (it never completes the key): after the lock a retry takes the key over.
    clock.advance(61_000);
    const retry = await ctx.request(alice.token, { method: 'POST', url: '/api/v1/threads', headers: { 'idempotency-key': key }, payload: { ai_version_code: 'stablediffusion_text2img' } });
    assert.equal(retry.statusCode, 201, retry.body);
    assert.equal(retry.headers['idempotent-replayed'], undefined);
    release();
    assert.deepEqual(await first, { replayed: false, result: { status: 201, value: 'never stored' } });
    const replay = await ctx.request(alice.token, { method: 'POST', url: '/api/v1/threads', headers: { 'idempotency-key': key }, payload: { ai_version_code: 'stablediffusion_text2img' } });
    assert.equal(replay.json().data.guid, retry.json().data.guid);
  });
});
