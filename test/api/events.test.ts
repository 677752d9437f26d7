/**
 * Follow (issue #9): the event stream of a thread with the real engine (tiny model) and an in-process worker: the
 * order of one request's events, a preview that decodes as an image, resuming with Last-Event-ID (also after the
 * request completed), keep-alives, the 21st stream refused, another account's thread refused; wait mode, since.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { createApiContext, TUTORIAL_JSON, waitForResponse, type ApiContext } from '../helpers/api-context.ts';
import { openEventStream, type SseClient } from '../helpers/sse-client.ts';

const REQUEST = { ...TUTORIAL_JSON, images: 2, steps: 10, seed: 7 };

describe('entry events: GET /threads/{guid}/events', () => {
  let ctx: ApiContext;
  let base: string;
  let user: { id: string; token: string };
  const streams: SseClient[] = [];

  before(async () => {
    ctx = await createApiContext({ worker: true, overrides: { entryIntervals: { progressMs: 0, previewMs: 0 } }, eventStreams: { heartbeatMs: 50 } });
    await ctx.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}/api/v1`;
    user = await ctx.user('follower@example.com', 100);
  });
  after(async () => {
    // Streams are still open here: closing the server must end them (it would wait for them forever otherwise).
    await ctx.close();
    for (const s of streams) s.close();
  });

  async function newThread(token = user.token): Promise<string> {
    return (await ctx.request(token, { method: 'POST', url: '/api/v1/threads', payload: { ai_version_code: 'stablediffusion_text2img' } })).json().data.guid;
  }
  async function follow(thread: string, headers: Record<string, string> = {}, token = user.token): Promise<SseClient> {
    const stream = await openEventStream(`${base}/threads/${thread}/events`, { authorization: `Bearer ${token}`, ...headers });
    streams.push(stream);
    return stream;
  }

  it('one request: queued → started → progress (step i of n) and previews → completed with the response entry as GET …/entries shows it', async () => {
    const thread = await newThread();
    const stream = await follow(thread);
    assert.equal(stream.status, 200);
    assert.match(stream.headers.get('content-type') ?? '', /^text\/event-stream/);
    const created = await ctx.request(user.token, { method: 'POST', url: `/api/v1/threads/${thread}/entry`, payload: REQUEST });
    assert.equal(created.statusCode, 201, created.body);
    const guid = created.json().data.guid;
    const completed = await stream.next((e) => e.event === 'completed');
    const names = stream.events.map((e) => e.event);
    assert.equal(names[0], 'queued');
    assert.equal(names[1], 'started');
    assert.equal(names.at(-1), 'completed');
    assert.ok(names.includes('progress') && names.includes('preview'), names.join(','));
    for (const e of stream.events) assert.equal(e.data.entry_guid, guid);
    const ids = stream.events.map((e) => Number(e.id));
    assert.deepEqual([...ids].sort((a, b) => a - b), ids, 'ids grow within the thread');
    assert.equal(stream.events[0].data.queue_position, 0);
    const progress = stream.events.filter((e) => e.event === 'progress').map((e) => e.data);
    for (const p of progress) {
      assert.equal(p.steps, 10);
      assert.equal(p.images, 2);
      assert.ok(p.step >= 1 && p.step <= 10 && p.image >= 0 && p.image < 2);
    }
    assert.deepEqual(progress.at(-1), { ...progress.at(-1), step: 10, image: 1 }, 'the last step is always reported');

    const entries = await waitForResponse(ctx, user.token, thread);
    assert.deepEqual(completed.data.response, entries[1]);
    assert.equal(completed.data.response.content.length, 2);
  });

  it('a preview is a JPEG data URL that decodes as an image of at most 256 px', async () => {
    const thread = await newThread();
    const stream = await follow(thread);
    await ctx.request(user.token, { method: 'POST', url: `/api/v1/threads/${thread}/entry`, payload: REQUEST });
    const preview = await stream.next((e) => e.event === 'preview');
    const match = /^data:image\/jpeg;base64,(.+)$/.exec(preview.data.data_url);
    assert.ok(match, preview.data.data_url.slice(0, 40));
    const meta = await sharp(Buffer.from(match[1], 'base64')).metadata();
    assert.equal(meta.format, 'jpeg');
    assert.ok(meta.width! > 0 && meta.width! <= 256 && meta.height! <= 256);
    assert.ok(preview.data.step >= 1 && preview.data.step <= 10);
    await stream.next((e) => e.event === 'completed');
  });

  it('preview=false turns previews off for that request', async () => {
    const thread = await newThread();
    const stream = await follow(thread);
    await ctx.request(user.token, { method: 'POST', url: `/api/v1/threads/${thread}/entry`, payload: { ...REQUEST, preview: false } });
    await stream.next((e) => e.event === 'completed');
    assert.ok(!stream.events.some((e) => e.event === 'preview'));
  });

  it('Last-Event-ID: a reconnecting client gets every later event (the latest progress and preview per entry), also after completion', async () => {
    const thread = await newThread();
    const first = await follow(thread);
    await ctx.request(user.token, { method: 'POST', url: `/api/v1/threads/${thread}/entry`, payload: REQUEST });
    await first.next((e) => e.event === 'completed');
    first.close();
    const queued = first.events[0];
    assert.equal(queued.event, 'queued');

    const resumed = await follow(thread, { 'last-event-id': queued.id! });
    await resumed.next((e) => e.event === 'completed');
    const names = resumed.events.map((e) => e.event);
    assert.deepEqual(names.filter((n) => n !== 'progress' && n !== 'preview'), ['started', 'completed']);
    assert.equal(names.filter((n) => n === 'progress').length, 1, 'one progress: the latest');
    assert.ok(names.filter((n) => n === 'preview').length <= 1, 'at most the latest preview');
    assert.equal(resumed.events.at(-1)!.id, first.events.at(-1)!.id);
    const lastProgress = resumed.events.find((e) => e.event === 'progress')!;
    assert.deepEqual({ step: lastProgress.data.step, image: lastProgress.data.image }, { step: 10, image: 1 });

    // Resuming from the last id: nothing to replay; the next request's events come live.
    const live = await follow(thread, { 'last-event-id': first.events.at(-1)!.id! });
    const second = await ctx.request(user.token, { method: 'POST', url: `/api/v1/threads/${thread}/entry`, payload: REQUEST });
    await live.next((e) => e.event === 'completed');
    assert.equal(live.events[0].event, 'queued');
    assert.equal(live.events[0].data.entry_guid, second.json().data.guid);
  });

  it('keep-alive comments; a malformed Last-Event-ID is a 422; another account\'s thread is a 404', async () => {
    const thread = await newThread();
    const quiet = await follow(thread);
    assert.equal(await quiet.nextComment(), ': keep-alive');
    quiet.close();
    const bad = await ctx.request(user.token, { method: 'GET', url: `/api/v1/threads/${thread}/events`, headers: { 'last-event-id': 'abc' } });
    assert.equal(bad.statusCode, 422);
    assert.ok(bad.json().errors['last-event-id'], bad.body);
    const other = await ctx.user('other-follower@example.com', 10);
    const denied = await ctx.request(other.token, { method: 'GET', url: `/api/v1/threads/${thread}/events` });
    assert.equal(denied.statusCode, 404);
    const missing = await ctx.request(user.token, { method: 'GET', url: `/api/v1/threads/not-a-guid/events` });
    assert.equal(missing.statusCode, 404);
    // A client that accepts only JSON gets a 406 at once rather than a stream it cannot read.
    const json = await ctx.request(user.token, { method: 'GET', url: `/api/v1/threads/${thread}/events`, headers: { accept: 'application/json' } });
    assert.equal(json.statusCode, 406);
    assert.equal(json.json().code, 'not_acceptable');
  });

  it('at most 20 open streams per token: the 21st is a 429, and closing one frees a place', async () => {
    const thread = await newThread();
    const limited = await ctx.user('streamer@example.com', 0);
    const open: SseClient[] = [];
    for (let i = 0; i < 20; i++) {
      const s = await follow(thread, {}, limited.token).catch(() => undefined);
      assert.ok(s, `stream ${i + 1}`);
      assert.equal(s.status, 404, 'another account\'s thread');
      s.close();
    }
    const own = await newThread(limited.token);
    for (let i = 0; i < 20; i++) {
      const s = await follow(own, {}, limited.token);
      assert.equal(s.status, 200, `stream ${i + 1}`);
      open.push(s);
    }
    const refused = await follow(own, {}, limited.token);
    assert.equal(refused.status, 429);
    // Another token of the same account is counted on its own.
    const app = await ctx.services.applications.create(limited.id, 'second');
    const second = await ctx.services.applications.createToken(limited.id, app.id);
    const other = await follow(own, {}, second.token);
    assert.equal(other.status, 200);
    open[0].close();
    await waitUntil(async () => (await follow(own, {}, limited.token)).status === 200);
  });

  it('wait mode: Prefer: wait=N answers with the response entry when it is written in time', async () => {
    const thread = await newThread();
    const res = await ctx.request(user.token, { method: 'POST', url: `/api/v1/threads/${thread}/entry`, headers: { prefer: 'wait=60' }, payload: REQUEST });
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.headers['preference-applied'], 'wait=60');
    const body = res.json();
    assert.equal(body.data.status, 'done');
    assert.equal(body.response.request_guid, body.data.guid);
    assert.equal(body.response.content.length, 2);
    const list = (await ctx.request(user.token, { method: 'GET', url: `/api/v1/threads/${thread}/entries` })).json().data;
    assert.deepEqual(body.response, list[1]);
  });

  it('since=<entry guid> lists only the entries after it; an unknown one is a 422', async () => {
    const thread = await newThread();
    const a = await ctx.request(user.token, { method: 'POST', url: `/api/v1/threads/${thread}/entry`, headers: { prefer: 'wait=60' }, payload: REQUEST });
    const b = await ctx.request(user.token, { method: 'POST', url: `/api/v1/threads/${thread}/entry`, headers: { prefer: 'wait=60' }, payload: REQUEST });
    const all = (await ctx.request(user.token, { method: 'GET', url: `/api/v1/threads/${thread}/entries` })).json().data;
    assert.equal(all.length, 4);
    const after = await ctx.request(user.token, { method: 'GET', url: `/api/v1/threads/${thread}/entries?since=${a.json().response.guid}` });
    assert.deepEqual(after.json().data, all.slice(2));
    assert.equal(after.json().data[0].guid, b.json().data.guid);
    const none = await ctx.request(user.token, { method: 'GET', url: `/api/v1/threads/${thread}/entries?since=${b.json().response.guid}` });
    assert.deepEqual(none.json().data, []);
    const unknown = await ctx.request(user.token, { method: 'GET', url: `/api/v1/threads/${thread}/entries?since=7a4b3f0e-1111-4222-8333-944445555666` });
    assert.equal(unknown.statusCode, 422);
    assert.ok(unknown.json().errors.since);
  });
});

async function waitUntil(probe: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error('condition not met');
    await new Promise((r) => setImmediate(r));
  }
}

describe('Prefer: wait=N parsing', () => {
  it('reads wait=N among other preferences, caps it at 60 and ignores anything else', async () => {
    const { preferredWait } = await import('../../src/api/routes/entries.routes.ts');
    assert.equal(preferredWait('wait=30'), 30);
    assert.equal(preferredWait('respond-async, wait=10'), 10);
    assert.equal(preferredWait('handling=lenient; wait=5'), 5);
    assert.equal(preferredWait('wait=100'), 60);
    for (const bad of ['wait=abc', 'nowait=5', 'wait=', '', undefined]) assert.equal(preferredWait(bad), undefined, String(bad));
  });
});
