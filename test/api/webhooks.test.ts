import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { LookupAddress } from 'node:dns';
import { after, before, describe, it } from 'node:test';
import { MAX_ATTEMPTS, WebhookDispatcher } from '../../src/services/webhooks/webhook-dispatcher.ts';
import { httpWebhookSender } from '../../src/services/webhooks/webhook-sender.ts';
import { createApiContext, formBody, waitForResponse, type ApiContext } from '../helpers/api-context.ts';
import { steppingClock, type TestClock } from '../helpers/clock.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.ts';

/** The request the tests send: cheap (1 credit) on the tiny model. */
const SMALL = { engine: 'stable-diffusion-v1-6', resolution: '512x512', prompts: [{ text: 'a red circle', weight: 1 }], images: 1, steps: 10 };

/**
 * The Standard Webhooks check, written here from the spec and independent of src/: the key is the base64 after
 * `whsec_`, the signed content `{id}.{timestamp}.{body}`, each signature `v1,<base64 HMAC-SHA256>`, space-separated.
 */
function signaturesVerified(secret: string, headers: IncomingHttpHeaders, body: string): number {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const expected = createHmac('sha256', key).update(`${String(headers['webhook-id'])}.${String(headers['webhook-timestamp'])}.${body}`).digest();
  return String(headers['webhook-signature'])
    .split(' ')
    .filter((sig) => {
      const [version, value] = sig.split(',');
      const given = Buffer.from(value ?? '', 'base64');
      return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
    }).length;
}

/** Offline DNS for the tests: names map to chosen addresses (rebinding: change the map between submission and delivery). */
function fakeDns(): { names: Map<string, string[]>; resolve: (host: string) => Promise<LookupAddress[]> } {
  const names = new Map<string, string[]>();
  return {
    names,
    resolve: async (host) => {
      const found = names.get(host);
      if (!found) throw Object.assign(new Error(`ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
      return found.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    },
  };
}

describe('webhooks (in-process worker, local receiver)', () => {
  let ctx: ApiContext;
  let clock: TestClock;
  let receiver: WebhookReceiver;
  let alice: { id: string; token: string };
  let bob: { id: string; token: string };
  const dns = fakeDns();

  before(async () => {
    clock = steppingClock(Date.now(), 0);
    ctx = await createApiContext({ worker: true, env: { SDAPI_WEBHOOK_ALLOW_HOSTS: '127.0.0.1' }, overrides: { clock, webhookResolver: dns.resolve } });
    receiver = await startWebhookReceiver();
    alice = await ctx.user('alice@example.com', 100);
    bob = await ctx.user('bob@example.com', 100);
  });
  after(async () => {
    await receiver.close();
    await ctx.close();
  });

  async function thread(token = alice.token): Promise<string> {
    return (await ctx.request(token, { method: 'POST', url: '/api/v1/threads', payload: { ai_version_code: 'stablediffusion_text2img' } })).json().data.guid;
  }
  async function secret(token = alice.token): Promise<string> {
    const res = await ctx.request(token, { method: 'GET', url: '/api/v1/webhook-secret' });
    assert.equal(res.statusCode, 200, res.body);
    return res.json().data.secret;
  }
  /** Sends SMALL with a webhook to the receiver and waits for the response entry. */
  async function generate(extra: Record<string, unknown> = {}, token = alice.token): Promise<{ thread: string; entry: string }> {
    const t = await thread(token);
    const res = await ctx.request(token, { method: 'POST', url: `/api/v1/threads/${t}/entry`, payload: { ...SMALL, webhook: receiver.url, ...extra } });
    assert.equal(res.statusCode, 201, res.body);
    await waitForResponse(ctx, token, t);
    return { thread: t, entry: res.json().data.guid };
  }
  async function deliveries(t: string, entry: string, token = alice.token) {
    const res = await ctx.request(token, { method: 'GET', url: `/api/v1/threads/${t}/entries/${entry}/deliveries` });
    assert.equal(res.statusCode, 200, res.body);
    return res.json().data as { webhook_id: string; type: string; status: string; next_attempt_at: string | null; attempts: { attempt: number; status_code: number | null; error: string | null; attempted_at: string }[] }[];
  }

  it('GET /webhook-secret: whsec_ + base64 of 32 bytes, stable per application', async () => {
    const first = await secret();
    assert.match(first, /^whsec_[A-Za-z0-9+/]+=*$/);
    assert.equal(Buffer.from(first.slice(6), 'base64').length, 32);
    assert.equal(await secret(), first);
    assert.notEqual(await secret(bob.token), first, 'each application has its own');
  });

  it('a completed request is POSTed once, with a signature an independent implementation verifies', async () => {
    const from = receiver.received.length;
    const { thread: t, entry } = await generate();
    assert.equal(await ctx.services.webhookDispatcher.runOnce(), 1);
    const got = receiver.received.slice(from);
    assert.equal(got.length, 1);
    const [hook] = got;
    assert.equal(signaturesVerified(await secret(), hook.headers, hook.body), 1);
    assert.match(String(hook.headers['webhook-id']), /^msg_[0-9a-f]{32}$/);
    assert.equal(Number(hook.headers['webhook-timestamp']), Math.floor(clock().getTime() / 1000));
    assert.equal(hook.headers['content-type'], 'application/json');
    assert.equal(hook.json.type, 'entry.completed');
    assert.ok(!Number.isNaN(Date.parse(hook.json.timestamp)));
    // data: the request entry as GET …/entries shows it, with its response entry.
    const listed = (await ctx.request(alice.token, { method: 'GET', url: `/api/v1/threads/${t}/entries` })).json().data;
    assert.deepEqual(hook.json.data, { ...listed[0], response: listed[1] });
    assert.equal(hook.json.data.guid, entry);
    assert.equal(hook.json.data.response.content.length, 1);
    // A tampered body does not verify.
    assert.equal(signaturesVerified(await secret(), hook.headers, hook.body.replace('completed', 'failed')), 0);
    const [delivery] = await deliveries(t, entry);
    assert.equal(delivery.status, 'delivered');
    assert.equal(delivery.webhook_id, hook.headers['webhook-id']);
    assert.deepEqual(delivery.attempts.map((a) => a.status_code), [200]);
    assert.equal(await ctx.services.webhookDispatcher.runOnce(), 0, 'nothing left to send');
  });

  it('a receiver that fails twice gets a third attempt with the same webhook-id; backoff starts within a minute', async () => {
    const from = receiver.received.length;
    receiver.answer = (n) => (n - from < 2 ? 500 : 200);
    try {
      const { thread: t, entry } = await generate();
      assert.equal(await ctx.services.webhookDispatcher.runOnce(), 1);
      assert.equal(await ctx.services.webhookDispatcher.runOnce(), 0, 'the retry waits for its time');
      let [delivery] = await deliveries(t, entry);
      assert.equal(delivery.status, 'pending');
      const wait = Date.parse(delivery.next_attempt_at ?? '') - Date.parse(delivery.attempts[0].attempted_at);
      assert.ok(wait > 0 && wait <= 60_000, `first retry after ${wait} ms`);
      clock.advance(60_000);
      assert.equal(await ctx.services.webhookDispatcher.runOnce(), 1);
      clock.advance(60_000);
      assert.equal(await ctx.services.webhookDispatcher.runOnce(), 1);
      const got = receiver.received.slice(from);
      assert.equal(got.length, 3);
      assert.equal(new Set(got.map((h) => h.headers['webhook-id'])).size, 1, 'one webhook-id across retries');
      assert.equal(new Set(got.map((h) => h.body)).size, 1, 'the same body');
      [delivery] = await deliveries(t, entry);
      assert.equal(delivery.status, 'delivered');
      assert.deepEqual(
        delivery.attempts.map((a) => [a.attempt, a.status_code]),
        [
          [1, 500],
          [2, 500],
          [3, 200],
        ],
      );
      assert.equal(delivery.attempts[0].error, 'the receiver answered 500');
    } finally {
      receiver.answer = () => 200;
    }
  });

  it('after a rotation deliveries carry both signatures for 24 h, then only the new one', async () => {
    const old = await secret();
    const rotated = await ctx.request(alice.token, { method: 'POST', url: '/api/v1/webhook-secret/rotate' });
    assert.equal(rotated.statusCode, 200, rotated.body);
    const fresh = rotated.json().data.secret;
    assert.notEqual(fresh, old);
    assert.ok(rotated.json().data.previous_secret_expires_at);
    assert.equal(await secret(), fresh);

    let from = receiver.received.length;
    await generate();
    await ctx.services.webhookDispatcher.runOnce();
    let [hook] = receiver.received.slice(from);
    assert.equal(String(hook.headers['webhook-signature']).split(' ').length, 2);
    assert.equal(signaturesVerified(fresh, hook.headers, hook.body), 1, 'one signature with the new secret');
    assert.equal(signaturesVerified(old, hook.headers, hook.body), 1, 'one with the old');

    clock.advance(24 * 3600_000 + 1000);
    from = receiver.received.length;
    await generate();
    await ctx.services.webhookDispatcher.runOnce();
    [hook] = receiver.received.slice(from);
    assert.equal(String(hook.headers['webhook-signature']).split(' ').length, 1);
    assert.equal(signaturesVerified(fresh, hook.headers, hook.body), 1);
    assert.equal(signaturesVerified(old, hook.headers, hook.body), 0);
    assert.equal((await ctx.request(alice.token, { method: 'GET', url: '/api/v1/webhook-secret' })).json().data.previous_secret_expires_at, null);
  });

  it('webhook_events_filter[]=start&webhook_events_filter[]=completed (a form body) sends entry.started, then entry.completed', async () => {
    const t = await thread();
    const from = receiver.received.length;
    const res = await ctx.request(alice.token, {
      method: 'POST',
      url: `/api/v1/threads/${t}/entry`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload:
        formBody({ engine: SMALL.engine, resolution: SMALL.resolution, 'prompts[0][text]': 'a blue square', images: '1', steps: '10', webhook: receiver.url }) +
        '&webhook_events_filter[]=start&webhook_events_filter[]=completed',
    });
    assert.equal(res.statusCode, 201, res.body);
    await waitForResponse(ctx, alice.token, t);
    await ctx.services.webhookDispatcher.runOnce();
    const got = receiver.received.slice(from).map((h) => h.json);
    assert.deepEqual(
      got.map((p) => p.type).sort(),
      ['entry.completed', 'entry.started'],
    );
    const started = got.find((p) => p.type === 'entry.started');
    assert.equal(started.data.status, 'running');
    assert.equal(started.data.response, undefined);
  });

  it('only start: no completion event', async () => {
    const from = receiver.received.length;
    await generate({ webhook_events_filter: ['start'] });
    await ctx.services.webhookDispatcher.runOnce();
    assert.deepEqual(
      receiver.received.slice(from).map((h) => h.json.type),
      ['entry.started'],
    );
  });

  it('refuses loopback, private, link-local and metadata targets (and plain http) with 422 naming webhook, before anything is charged', async () => {
    dns.names.set('private.example', ['10.0.0.7']);
    dns.names.set('mixed.example', ['93.184.216.34', '127.0.0.1']);
    dns.names.set('metadata.example', ['fd00:ec2::254']);
    const t = await thread();
    const balance = async () => (await ctx.request(alice.token, { method: 'GET', url: '/api/v1/account' })).json().data.credits;
    const before = await balance();
    for (const webhook of [
      'https://10.0.0.1/hook',
      'https://192.168.1.10/hook',
      'https://172.20.0.1/hook',
      'https://169.254.169.254/latest/meta-data',
      'https://[::1]/hook',
      'https://[::ffff:127.0.0.1]/hook',
      'https://[fe80::1]/hook',
      'https://[fd00:ec2::254]/hook',
      'https://0.0.0.0/hook',
      'https://167772161/hook', // 10.0.0.1 spelt as a number
      'https://100.64.0.1/hook',
      'https://private.example/hook',
      'https://mixed.example/hook',
      'https://metadata.example/hook',
      'https://unknown.example/hook',
      'http://203.0.114.1/hook',
      'ftp://example.com/hook',
      'https://user:pass@93.184.216.34/hook',
      'not a url',
    ]) {
      const res = await ctx.request(alice.token, { method: 'POST', url: `/api/v1/threads/${t}/entry`, payload: { ...SMALL, webhook } });
      assert.equal(res.statusCode, 422, `${webhook}: ${res.body}`);
      assert.deepEqual(Object.keys(res.json().errors), ['webhook'], webhook);
    }
    // With other bad fields: one 422 naming all of them.
    const both = await ctx.request(alice.token, { method: 'POST', url: `/api/v1/threads/${t}/entry`, payload: { ...SMALL, steps: 0, webhook: 'https://10.0.0.1/' } });
    assert.deepEqual(Object.keys(both.json().errors).sort(), ['steps', 'webhook']);
    const filter = await ctx.request(alice.token, { method: 'POST', url: `/api/v1/threads/${t}/entry`, payload: { ...SMALL, webhook: receiver.url, webhook_events_filter: ['finished'] } });
    assert.equal(filter.statusCode, 422);
    assert.ok(Object.keys(filter.json().errors).some((k) => k.startsWith('webhook_events_filter')), filter.body);
    assert.equal(await balance(), before);
    assert.equal((await ctx.request(alice.token, { method: 'GET', url: `/api/v1/threads/${t}/entries` })).json().data.length, 0);
  });

  it('webhooks need a bearer token (a browser session has no application to sign with)', async () => {
    const t = await thread();
    await assert.rejects(
      ctx.services.entries.submit(alice.id, { threadId: t, body: { ...SMALL, webhook: receiver.url } }, {}),
      (err: { fields?: Record<string, string[]> }) => Array.isArray(err.fields?.webhook),
    );
  });

  it('the OpenAPI document describes the webhook fields, the Idempotency-Key header and the new routes', async () => {
    const doc = (await ctx.request(null, { method: 'GET', url: '/api/v1/openapi.json' })).json();
    const entry = doc.paths['/api/v1/threads/{guid}/entry'].post;
    const body = entry.requestBody.content['application/json'].schema;
    assert.equal(body.properties.webhook.type, 'string');
    assert.deepEqual(body.properties.webhook_events_filter.items.enum, ['start', 'completed']);
    for (const op of [entry, doc.paths['/api/v1/threads'].post]) {
      const header = op.parameters.find((p: { in: string; name: string }) => p.in === 'header' && p.name === 'idempotency-key');
      assert.ok(header, 'Idempotency-Key is documented');
      assert.equal(header.schema.maxLength, 255);
      assert.ok(op.responses['201'].headers['idempotent-replayed']);
      assert.ok(op.responses['409']);
    }
    for (const path of [
      '/api/v1/webhook-secret',
      '/api/v1/webhook-secret/rotate',
      '/api/v1/applications/{id}/webhooks/secret',
      '/api/v1/applications/{id}/webhooks/secret/rotate',
      '/api/v1/threads/{guid}/entries/{entry_guid}/deliveries',
      '/api/v1/threads/{guid}/entries/{entry_guid}/deliveries/{webhook_id}/redeliver',
    ]) {
      assert.ok(doc.paths[path], path);
    }
  });

  it("another account's deliveries, secrets and rotations answer 404", async () => {
    const { thread: t, entry } = await generate();
    await ctx.services.webhookDispatcher.runOnce();
    const other = await ctx.request(bob.token, { method: 'GET', url: `/api/v1/threads/${t}/entries/${entry}/deliveries` });
    assert.equal(other.statusCode, 404);
    const [aliceApp] = (await ctx.request(alice.token, { method: 'GET', url: '/api/v1/applications' })).json().data;
    const mine = await ctx.request(alice.token, { method: 'GET', url: `/api/v1/applications/${aliceApp.id}/webhooks/secret` });
    assert.equal(mine.statusCode, 200);
    assert.equal(mine.json().data.secret, await secret());
    assert.equal((await ctx.request(bob.token, { method: 'GET', url: `/api/v1/applications/${aliceApp.id}/webhooks/secret` })).statusCode, 404);
    assert.equal((await ctx.request(bob.token, { method: 'POST', url: `/api/v1/applications/${aliceApp.id}/webhooks/secret/rotate` })).statusCode, 404);
    assert.equal(await secret(), mine.json().data.secret, 'unchanged');
    const [delivery] = await deliveries(t, entry);
    const redeliver = await ctx.request(bob.token, { method: 'POST', url: `/api/v1/threads/${t}/entries/${entry}/deliveries/${delivery.webhook_id}/redeliver` });
    assert.equal(redeliver.statusCode, 404);
  });
});

describe('webhooks without a worker: cancellation, give-up, redelivery, DNS rebinding, redirects', () => {
  let ctx: ApiContext;
  let clock: TestClock;
  let receiver: WebhookReceiver;
  let user: { id: string; token: string };
  const dns = fakeDns();

  before(async () => {
    clock = steppingClock(Date.now(), 0);
    ctx = await createApiContext({ env: { SDAPI_WEBHOOK_ALLOW_HOSTS: '127.0.0.1' }, overrides: { clock, webhookResolver: dns.resolve } });
    receiver = await startWebhookReceiver();
    user = await ctx.user('carol@example.com', 100);
  });
  after(async () => {
    await receiver.close();
    await ctx.close();
  });

  /** A queued request with a webhook, then deleted: its entry.cancelled delivery is queued. */
  async function cancelled(webhook = receiver.url): Promise<{ thread: string; entry: string }> {
    const t = (await ctx.request(user.token, { method: 'POST', url: '/api/v1/threads', payload: { ai_version_code: 'stablediffusion_text2img' } })).json().data.guid;
    const res = await ctx.request(user.token, { method: 'POST', url: `/api/v1/threads/${t}/entry`, payload: { ...SMALL, webhook } });
    assert.equal(res.statusCode, 201, res.body);
    const entry = res.json().data.guid;
    // The deliveries route needs the entry, so list them before deleting it: none yet.
    assert.deepEqual((await ctx.request(user.token, { method: 'GET', url: `/api/v1/threads/${t}/entries/${entry}/deliveries` })).json().data, []);
    assert.equal((await ctx.request(user.token, { method: 'DELETE', url: `/api/v1/threads/${t}/entries/${entry}` })).statusCode, 204);
    return { thread: t, entry };
  }

  it('deleting a queued request sends entry.cancelled with the entry marked cancelled', async () => {
    const from = receiver.received.length;
    const { entry } = await cancelled();
    assert.equal(await ctx.services.webhookDispatcher.runOnce(), 1);
    const [hook] = receiver.received.slice(from);
    assert.equal(hook.json.type, 'entry.cancelled');
    assert.equal(hook.json.data.guid, entry);
    assert.equal(hook.json.data.status, 'cancelled');
    assert.equal(hook.json.data.waiting_response, false);
  });

  it('cancelling a queued request (POST …/cancel) sends entry.cancelled with its response entry, and the deliveries list it', async () => {
    const t = (await ctx.request(user.token, { method: 'POST', url: '/api/v1/threads', payload: { ai_version_code: 'stablediffusion_text2img' } })).json().data.guid;
    const res = await ctx.request(user.token, { method: 'POST', url: `/api/v1/threads/${t}/entry`, payload: { ...SMALL, webhook: receiver.url } });
    assert.equal(res.statusCode, 201, res.body);
    const entry = res.json().data.guid;
    assert.equal((await ctx.request(user.token, { method: 'POST', url: `/api/v1/threads/${t}/entries/${entry}/cancel` })).statusCode, 202);
    const from = receiver.received.length;
    assert.equal(await ctx.services.webhookDispatcher.runOnce(), 1);
    const [hook] = receiver.received.slice(from);
    assert.equal(hook.json.type, 'entry.cancelled');
    assert.equal(hook.json.data.guid, entry);
    assert.equal(hook.json.data.status, 'cancelled');
    assert.equal(hook.json.data.response.status, 'cancelled');
    const deliveries = (await ctx.request(user.token, { method: 'GET', url: `/api/v1/threads/${t}/entries/${entry}/deliveries` })).json().data;
    assert.deepEqual(deliveries.map((d: { type: string; status: string }) => [d.type, d.status]), [['entry.cancelled', 'delivered']]);
  });

  it(`gives up after ${MAX_ATTEMPTS} attempts spread over more than 2 hours; redelivery sends it again with the same id`, async () => {
    const from = receiver.received.length;
    receiver.answer = () => 503;
    try {
      await cancelled();
      const start = clock().getTime();
      for (let i = 0; i < MAX_ATTEMPTS + 2; i += 1) {
        await ctx.services.webhookDispatcher.runOnce();
        clock.advance(13 * 3600_000);
      }
      const got = receiver.received.slice(from);
      assert.equal(got.length, MAX_ATTEMPTS, 'no attempt after the last');
      assert.equal(new Set(got.map((h) => h.headers['webhook-id'])).size, 1);
      const stamps = got.map((h) => Number(h.headers['webhook-timestamp']) * 1000);
      assert.ok(stamps[9] - start >= 2 * 3600_000, 'the 10th attempt comes after at least 2 h');
      const row = await ctx.store.db.selectFrom('webhook_deliveries').selectAll().where('id', '=', String(got[0].headers['webhook-id'])).executeTakeFirstOrThrow();
      assert.equal(row.status, 'failed');
      assert.equal(Number(row.attempts), MAX_ATTEMPTS);
      assert.equal(row.last_status_code, 503);
      // The attempts are counted by outcome (sdapi_webhook_deliveries_total).
      const counted = Object.fromEntries((await ctx.services.metrics.webhookDeliveries.get()).values.map((v) => [v.labels.outcome, v.value]));
      assert.ok(Number(counted.retried) >= MAX_ATTEMPTS - 1, JSON.stringify(counted));
      assert.ok(Number(counted.failed) >= 1, JSON.stringify(counted));
      assert.ok(Number(counted.delivered) >= 1, JSON.stringify(counted));
    } finally {
      receiver.answer = () => 200;
    }
  });

  it('several dispatchers (processes) sending at once deliver each event once', async () => {
    const from = receiver.received.length;
    for (let i = 0; i < 8; i += 1) await cancelled();
    const policy = { allowHosts: new Set(['127.0.0.1']), resolve: dns.resolve };
    const others = [1, 2].map(() => new WebhookDispatcher({ store: ctx.store, secrets: ctx.services.webhookSecrets, send: httpWebhookSender({ policy }), clock, concurrency: 3 }));
    const made = await Promise.all([ctx.services.webhookDispatcher.runOnce(), ...others.map((d) => d.runOnce())]);
    assert.equal(made.reduce((a, b) => a + b, 0), 8);
    const ids = receiver.received.slice(from).map((h) => String(h.headers['webhook-id']));
    assert.equal(ids.length, 8);
    assert.equal(new Set(ids).size, 8);
  });

  it('checks the address again at delivery: a name that now resolves to loopback is refused without connecting', async () => {
    dns.names.set('rebind.example', ['93.184.216.34']);
    const { thread: t, entry } = await (async () => {
      const t = (await ctx.request(user.token, { method: 'POST', url: '/api/v1/threads', payload: { ai_version_code: 'stablediffusion_text2img' } })).json().data.guid;
      const res = await ctx.request(user.token, { method: 'POST', url: `/api/v1/threads/${t}/entry`, payload: { ...SMALL, webhook: 'https://rebind.example/hook' } });
      assert.equal(res.statusCode, 201, res.body);
      return { thread: t, entry: res.json().data.guid as string };
    })();
    // Rebound: the name now points at the server itself.
    dns.names.set('rebind.example', ['127.0.0.1']);
    const listBefore = await ctx.request(user.token, { method: 'GET', url: `/api/v1/threads/${t}/entries/${entry}/deliveries` });
    assert.equal(listBefore.statusCode, 200);
    // Cancel it through the service so its entry stays listable for the assertion below (a delete removes it).
    const row = await ctx.store.db.selectFrom('entries').select('thread_id').where('id', '=', entry).executeTakeFirstOrThrow();
    await ctx.store.transaction((tx) => ctx.services.webhooks.enqueueForEntry(tx, { type: 'entry.cancelled', userId: user.id, threadId: row.thread_id, entryId: entry }));
    assert.equal(await ctx.services.webhookDispatcher.runOnce(), 1);
    const [delivery] = (await ctx.request(user.token, { method: 'GET', url: `/api/v1/threads/${t}/entries/${entry}/deliveries` })).json().data;
    assert.equal(delivery.status, 'pending', 'retried later');
    assert.deepEqual(
      delivery.attempts.map((a: { status_code: number | null; error: string }) => [a.status_code, a.error]),
      [[null, 'the webhook host resolves to an address that is not allowed']],
    );
  });

  it('does not follow redirects: a 3xx is a failed attempt', async () => {
    const from = receiver.received.length;
    receiver.answer = () => 302;
    try {
      const t = (await ctx.request(user.token, { method: 'POST', url: '/api/v1/threads', payload: { ai_version_code: 'stablediffusion_text2img' } })).json().data.guid;
      const entry = (await ctx.request(user.token, { method: 'POST', url: `/api/v1/threads/${t}/entry`, payload: { ...SMALL, webhook: receiver.url } })).json().data.guid;
      await ctx.store.transaction((tx) => ctx.services.webhooks.enqueueForEntry(tx, { type: 'entry.cancelled', userId: user.id, threadId: t, entryId: entry }));
      clock.advance(1000);
      await ctx.services.webhookDispatcher.runOnce();
      assert.equal(receiver.received.length - from, 1);
      const [delivery] = (await ctx.request(user.token, { method: 'GET', url: `/api/v1/threads/${t}/entries/${entry}/deliveries` })).json().data;
      assert.deepEqual(
        delivery.attempts.map((a: { status_code: number | null; error: string }) => [a.status_code, a.error]),
        [[302, 'redirects are not followed']],
      );
      // Redelivery: 409 while it is still being retried; once it is delivered, it can be sent again with the same id.
      const busy = await ctx.request(user.token, { method: 'POST', url: `/api/v1/threads/${t}/entries/${entry}/deliveries/${delivery.webhook_id}/redeliver` });
      assert.equal(busy.statusCode, 409);
      receiver.answer = () => 200;
      clock.advance(60_000);
      await ctx.services.webhookDispatcher.runOnce();
      const again = await ctx.request(user.token, { method: 'POST', url: `/api/v1/threads/${t}/entries/${entry}/deliveries/${delivery.webhook_id}/redeliver` });
      assert.equal(again.statusCode, 202, again.body);
      await ctx.services.webhookDispatcher.runOnce();
      const got = receiver.received.slice(from);
      assert.equal(got.length, 3);
      assert.equal(new Set(got.map((h) => h.headers['webhook-id'])).size, 1);
    } finally {
      receiver.answer = () => 200;
    }
  });
});
