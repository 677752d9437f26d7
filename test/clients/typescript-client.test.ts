/**
 * The TypeScript client (clients/typescript, @sdapi/client) against a running server: generate(), cancel(), typed
 * errors; its webhook verifier against the Standard Webhooks test vector; and the staleness check of its generated
 * types (CI fails here when `npm run client:generate` was not run after an API change).
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  SdapiAuthenticationError,
  SdapiCancelledError,
  SdapiClient,
  SdapiNotFoundError,
  SdapiValidationError,
  verifyWebhook,
  WebhookVerificationError,
} from '../../clients/typescript/src/index.ts';
import { projectRoot } from '../../src/config/load-config.ts';
import { clientFiles } from '../../scripts/client-files.ts';
import { newMessageId, newWebhookSecret, signatureHeaders } from '../../src/services/webhooks/signature.ts';
import { createApiContext, type ApiContext } from '../helpers/api-context.ts';
import { HeldGenerator } from '../helpers/held-generator.ts';

async function listen(ctx: ApiContext): Promise<string> {
  await ctx.app.listen({ host: '127.0.0.1', port: 0 });
  const address = ctx.app.server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  return `http://127.0.0.1:${address.port}`;
}

const REQUEST = { engine: 'sdapi-demo-shapes', resolution: '64x64', prompts: [{ text: 'a red circle on a blue background', weight: 1 }], steps: 10, seed: 77 };

describe('@sdapi/client against a running server', () => {
  let ctx: ApiContext;
  let base: string;
  let token: string;
  before(async () => {
    ctx = await createApiContext({ worker: true });
    base = await listen(ctx);
    token = (await ctx.user('client@example.com', 200)).token;
  });
  after(() => ctx.close());

  it('generate() posts the request to a new thread and returns its images, reporting progress', async () => {
    const client = new SdapiClient({ baseUrl: base, token });
    const result = await client.generate({ ...REQUEST, images: 2 }, { pollIntervalMs: 20 });
    assert.equal(result.images.length, 2);
    assert.deepEqual(
      result.images.map((i) => i.seed),
      [77, 78],
    );
    assert.equal(result.images[0].dimensions, '64x64');
    assert.equal(result.request.type, 'request');
    assert.equal(result.response.type, 'response');
    const thread = await client.threads.get(result.thread);
    assert.equal(thread.guid, result.thread);
    const again = await client.generate(REQUEST, { thread: result.thread, pollIntervalMs: 20 });
    assert.equal(again.thread, result.thread, 'an existing thread');
    assert.equal((await client.entries.list(result.thread)).length, 4);
  });

  it('a bad request is a typed SdapiValidationError naming every bad field; a bad token SdapiAuthenticationError; another thread SdapiNotFoundError', async () => {
    const client = new SdapiClient({ baseUrl: base, token });
    const thread = await client.threads.create();
    await assert.rejects(client.entries.create(thread.guid, { ...REQUEST, images: 11, resolution: 'big' }), (err: unknown) => {
      assert.ok(err instanceof SdapiValidationError, String(err));
      assert.equal(err.status, 422);
      assert.ok(err.errors.images?.length);
      assert.ok(err.errors.resolution?.length);
      return true;
    });
    await assert.rejects(new SdapiClient({ baseUrl: base, token: 'nope' }).account(), SdapiAuthenticationError);
    const stranger = new SdapiClient({ baseUrl: base, token: (await ctx.user('stranger@example.com', 10)).token });
    await assert.rejects(stranger.entries.list(thread.guid), SdapiNotFoundError);
  });
});

describe('@sdapi/client cancel()', () => {
  let ctx: ApiContext;
  let held: HeldGenerator;
  let base: string;
  before(async () => {
    ctx = await createApiContext({ worker: { heartbeatMs: 50 }, overrides: { wrapGenerator: (inner) => (held = new HeldGenerator(inner)) } });
    base = await listen(ctx);
  });
  after(async () => {
    held.release();
    await ctx.close();
  });

  it('cancels a running request: refunded, and generate() waiting for it rejects with SdapiCancelledError', async () => {
    const client = new SdapiClient({ baseUrl: base, token: (await ctx.user('cancel-client@example.com', 50)).token });
    const thread = await client.threads.create();
    const waiting = client.generate(REQUEST, { thread: thread.guid, pollIntervalMs: 20 });
    let entry;
    for (;;) {
      entry = (await client.entries.list(thread.guid)).find((e) => e.type === 'request');
      if (entry?.status === 'running') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok((await client.account()).credits < 50, 'reserved');
    await client.cancel(thread.guid, entry.guid);
    await assert.rejects(waiting, SdapiCancelledError);
    assert.equal((await client.account()).credits, 50, 'refunded');
  });
});

describe('verifyWebhook (Standard Webhooks)', () => {
  const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  const id = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
  const timestamp = '1614265330';
  const payload = '{"test": 2432232314}';
  const now = new Date(Number(timestamp) * 1000);

  it("accepts the specification's test vector, from Fetch Headers or Node's header object, with rotated signatures", async () => {
    const signature = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';
    assert.deepEqual(await verifyWebhook(secret, payload, { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signature }, { now }), { test: 2432232314 });
    const headers = new Headers({ 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,AAAA v1a,xyz ${signature}` });
    assert.deepEqual(await verifyWebhook(secret, new TextEncoder().encode(payload), headers, { now }), { test: 2432232314 });
  });

  it("verifies what the server's webhook signer sends, also during a secret rotation (old and new secret)", async () => {
    const [current, previous] = [newWebhookSecret(), newWebhookSecret()];
    const body = JSON.stringify({ type: 'entry.completed', data: { entry_guid: 'x' } });
    const sent = Math.floor(Date.now() / 1000);
    const headers = signatureHeaders([current, previous], newMessageId(), sent, body);
    assert.deepEqual(await verifyWebhook(current, body, headers), JSON.parse(body));
    assert.deepEqual(await verifyWebhook(previous, body, headers), JSON.parse(body));
    await assert.rejects(verifyWebhook(newWebhookSecret(), body, headers), WebhookVerificationError);
  });

  it('refuses a changed body, another secret, a stale timestamp and missing headers', async () => {
    const sign = (key: string, body: string, ts = timestamp) => `v1,${createHmac('sha256', Buffer.from(key.replace(/^whsec_/, ''), 'base64')).update(`${id}.${ts}.${body}`).digest('base64')}`;
    const headers = (signature: string, ts = timestamp) => ({ 'webhook-id': id, 'webhook-timestamp': ts, 'webhook-signature': signature });
    await assert.rejects(verifyWebhook(secret, '{"test": 1}', headers(sign(secret, payload)), { now }), WebhookVerificationError);
    await assert.rejects(verifyWebhook(secret, payload, headers(sign('whsec_' + Buffer.from('another key').toString('base64'), payload)), { now }), WebhookVerificationError);
    const old = String(Number(timestamp) - 301);
    await assert.rejects(verifyWebhook(secret, payload, headers(sign(secret, payload, old), old), { now }), /tolerance/);
    await assert.rejects(verifyWebhook(secret, payload, { 'webhook-id': id }, { now }), /Missing/);
  });
});

describe('the generated client types', () => {
  it('are current: clients/typescript/openapi.json and src/schema.ts match the server (run `npm run client:generate`)', async () => {
    const files = await clientFiles();
    for (const [path, text] of Object.entries(files)) {
      const committed = await readFile(join(projectRoot, path), 'utf8').catch(() => '');
      assert.ok(committed === text, `${path} is out of date: run \`npm run client:generate\` and commit the result`);
    }
  });
});
