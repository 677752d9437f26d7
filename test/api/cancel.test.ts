import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { after, before, describe, it } from 'node:test';
import { createApiContext, TUTORIAL_JSON, type ApiContext } from '../helpers/api-context.ts';
import { HeldGenerator } from '../helpers/held-generator.ts';

describe('deleting a thread while its request is running', () => {
  let ctx: ApiContext;
  before(async () => {
    // Generations are held once the job is running, so the delete lands mid-job; heartbeats notice the cancel.
    ctx = await createApiContext({ worker: { heartbeatMs: 50 }, overrides: { wrapGenerator: (generator) => new HeldGenerator(generator) } });
  });
  after(() => ctx.close());

  it('cancels the job, refunds the reservation, writes no response and frees the worker', async () => {
    const user = await ctx.user('cancel@example.com', 30);
    const thread = (await ctx.request(user.token, { method: 'POST', url: '/api/v1/threads', payload: { ai_version_code: 'stablediffusion_text2img' } })).json().data.guid;
    const entry = (await ctx.request(user.token, { method: 'POST', url: `/api/v1/threads/${thread}/entry`, payload: TUTORIAL_JSON })).json().data;
    for (;;) {
      const [request] = (await ctx.request(user.token, { method: 'GET', url: `/api/v1/threads/${thread}/entries` })).json().data;
      if (request.status === 'running') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal((await ctx.request(user.token, { method: 'DELETE', url: `/api/v1/threads/${thread}` })).statusCode, 204);
    assert.equal((await ctx.request(user.token, { method: 'GET', url: '/api/v1/account' })).json().data.credits, 30);
    const job = await ctx.store.db.selectFrom('jobs').select('status').where('entry_id', '=', entry.guid).executeTakeFirstOrThrow();
    assert.equal(job.status, 'cancelled');
    const ledger = (await ctx.services.credits.listLedger(user.id)).items.filter((l) => l.entryId === entry.guid).map((l) => l.kind);
    assert.deepEqual(ledger.sort(), ['refund', 'reserve']);

    // The worker lets go of the cancelled job: the next request is claimed (and paused in its turn).
    const next = (await ctx.request(user.token, { method: 'POST', url: '/api/v1/threads', payload: { ai_version_code: 'stablediffusion_text2img' } })).json().data.guid;
    const second = (await ctx.request(user.token, { method: 'POST', url: `/api/v1/threads/${next}/entry`, payload: { ...TUTORIAL_JSON, images: 1, steps: 10 } })).json().data;
    for (;;) {
      const row = await ctx.store.db.selectFrom('jobs').select('status').where('entry_id', '=', second.guid).executeTakeFirstOrThrow();
      if (row.status === 'running') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const storage = join(ctx.dataDir, 'storage');
    const files = await readdir(storage, { recursive: true }).catch(() => []);
    assert.deepEqual(files.filter((f) => String(f).endsWith('.png')), []);
  });
});

describe('deleting an image-to-image request while it runs', () => {
  let ctx: ApiContext;
  before(async () => {
    ctx = await createApiContext({ worker: { heartbeatMs: 50 }, overrides: { wrapGenerator: (generator) => new HeldGenerator(generator) } });
  });
  after(() => ctx.close());

  it('an image-to-image request is cancelled the same way: refunded, no response, its input copy deleted', async () => {
    const user = await ctx.user('cancel-i2i@example.com', 30);
    const thread = (await ctx.request(user.token, { method: 'POST', url: '/api/v1/threads', payload: { ai_version_code: 'stablediffusion_img2img' } })).json().data.guid;
    const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 200, g: 100, b: 50 } } }).png().toBuffer();
    const created = await ctx.request(user.token, {
      method: 'POST',
      url: `/api/v1/threads/${thread}/entry`,
      payload: { ...TUTORIAL_JSON, images: 1, init_image: `data:image/png;base64,${png.toString('base64')}`, image_strength: 0.5 },
    });
    assert.equal(created.statusCode, 201, created.body);
    const entry = created.json().data;
    const input = join(ctx.dataDir, 'storage', new URL(entry.content.init_image).pathname.replace('/storage/', ''));
    assert.ok(existsSync(input));
    for (;;) {
      const [request] = (await ctx.request(user.token, { method: 'GET', url: `/api/v1/threads/${thread}/entries` })).json().data;
      if (request.status === 'running') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const del = await ctx.request(user.token, { method: 'DELETE', url: `/api/v1/threads/${thread}/entries/${entry.guid}` });
    assert.ok(del.statusCode < 300, del.body);
    assert.equal((await ctx.request(user.token, { method: 'GET', url: '/api/v1/account' })).json().data.credits, 30);
    const job = await ctx.store.db.selectFrom('jobs').select('status').where('entry_id', '=', entry.guid).executeTakeFirstOrThrow();
    assert.equal(job.status, 'cancelled');
    assert.equal(existsSync(input), false, 'the input copy went with its request');
    assert.deepEqual((await ctx.request(user.token, { method: 'GET', url: `/api/v1/threads/${thread}/entries` })).json().data, []);
  });
});
