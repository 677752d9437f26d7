import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { inspectModel } from '../../src/engine/index.ts';
import { readTextChunks } from '../../src/services/generation/png-text.ts';
import { createApiContext, PUBLIC_URL, TEST_MODEL_DIR, TUTORIAL_JSON, waitForResponse, type ApiContext } from '../helpers/api-context.ts';

describe('generation end to end (in-process worker, real engine)', () => {
  let ctx: ApiContext;
  let user: { id: string; token: string };

  before(async () => {
    ctx = await createApiContext({ worker: true });
    user = await ctx.user('painter@example.com', 25);
  });
  after(() => ctx.close());

  async function newThread(token = user.token): Promise<string> {
    return (await ctx.request(token, { method: 'POST', url: '/api/v1/threads', payload: { ai_version_code: 'stablediffusion_text2img' } })).json().data.guid;
  }
  async function balance(token = user.token): Promise<number> {
    return (await ctx.request(token, { method: 'GET', url: '/api/v1/account' })).json().data.credits;
  }

  it('the tutorial request reserves 10 credits, then delivers two 1024×1024 PNGs with thumbnails and charges once', async () => {
    const thread = await newThread();
    const created = await ctx.request(user.token, { method: 'POST', url: `/api/v1/threads/${thread}/entry`, payload: { ...TUTORIAL_JSON, seed: 1234 } });
    assert.equal(created.statusCode, 201, created.body);
    assert.equal(await balance(), 15, 'reserved at creation');

    const entries = await waitForResponse(ctx, user.token, thread);
    assert.equal(entries.length, 2);
    const [request, response] = entries;
    assert.equal(request.type, 'request');
    assert.equal(request.guid, created.json().data.guid);
    assert.equal(request.waiting_response, false);
    assert.equal(request.credits, 0);
    assert.equal(request.status, 'done');
    assert.equal(response.type, 'response');
    assert.equal(response.thread_guid, thread);
    assert.equal(response.error, null);
    assert.equal(response.waiting_response, false);
    assert.equal(response.credits, 10);
    assert.equal(response.request_guid, request.guid);
    assert.equal(response.content.length, 2);
    assert.deepEqual(
      response.content.map((c: { seed: number }) => c.seed),
      [1234, 1235],
    );

    for (const item of response.content) {
      assert.deepEqual(Object.keys(item).sort(), ['dimensions', 'filesize', 'finish_reason', 'seed', 'thumbnail_url', 'url']);
      assert.match(item.url, new RegExp(`^${PUBLIC_URL}/storage/stablediffusion_text2img/[0-9a-f-]{36}\\.png$`));
      assert.equal(item.thumbnail_url, `${item.url}.thumbnail.jpg`);
      assert.equal(item.dimensions, '1024x1024');
      assert.equal(item.finish_reason, 'SUCCESS');

      const png = await ctx.request(null, { method: 'GET', url: new URL(item.url).pathname });
      assert.equal(png.statusCode, 200);
      assert.equal(png.headers['content-type'], 'image/png');
      assert.equal(Number(png.headers['content-length']), item.filesize);
      assert.equal(png.rawPayload.length, item.filesize);
      assert.match(String(png.headers['cache-control']), /max-age=31536000/);
      assert.match(String(png.headers['cache-control']), /immutable/);
      const meta = await sharp(png.rawPayload).metadata();
      assert.equal(meta.format, 'png');
      assert.equal(meta.width, 1024);
      assert.equal(meta.height, 1024);
      const parameters = readTextChunks(png.rawPayload).parameters;
      assert.match(parameters, /^Delorean hacking time\nNegative prompt: Clock\nSteps: 45, Sampler: \w+, CFG scale: 7, Seed: 123[45], Size: 1024x1024, Model: [\w.-]+/);

      const thumb = await ctx.request(null, { method: 'GET', url: new URL(item.thumbnail_url).pathname });
      assert.equal(thumb.statusCode, 200);
      assert.equal(thumb.headers['content-type'], 'image/jpeg');
      const tmeta = await sharp(thumb.rawPayload).metadata();
      assert.equal(tmeta.format, 'jpeg');
      assert.equal(Math.max(tmeta.width ?? 0, tmeta.height ?? 0), 256);

      const cached = await ctx.request(null, { method: 'GET', url: new URL(item.url).pathname, headers: { 'if-none-match': String(png.headers.etag) } });
      assert.equal(cached.statusCode, 304);
      const head = await ctx.request(null, { method: 'HEAD', url: new URL(item.url).pathname });
      assert.equal(head.statusCode, 200);
      assert.equal(Number(head.headers['content-length']), item.filesize);
    }

    assert.equal(await balance(), 15, 'charged exactly once: the reservation');
    const ledger = await ctx.services.credits.listLedger(user.id);
    const forEntry = ledger.items.filter((l) => l.entryId === request.guid).map((l) => [l.kind, l.amount, l.billed]);
    assert.deepEqual(forEntry.sort(), [
      ['charge', 0, 10],
      ['reserve', -10, 10],
    ]);
    const jobs = await ctx.store.db.selectFrom('jobs').select(['status', 'attempts']).where('entry_id', '=', request.guid).execute();
    assert.deepEqual(jobs, [{ status: 'done', attempts: 1 }]);

    // Deleting the thread deletes the image files.
    const files = response.content.flatMap((c: { url: string; thumbnail_url: string }) => [c.url, c.thumbnail_url].map((u) => join(ctx.dataDir, 'storage', new URL(u).pathname.replace('/storage/', ''))));
    assert.ok(files.every((f: string) => existsSync(f)));
    assert.equal((await ctx.request(user.token, { method: 'DELETE', url: `/api/v1/threads/${thread}` })).statusCode, 204);
    assert.ok(files.every((f: string) => !existsSync(f)));
    assert.equal((await ctx.request(null, { method: 'GET', url: new URL(response.content[0].url).pathname })).statusCode, 404);
    assert.equal(await balance(), 15, 'deleting a finished thread refunds nothing');
  });

  it('402 when the balance does not cover the price; nothing is queued', async () => {
    const poor = await ctx.user('poor@example.com', 9);
    const thread = await newThread(poor.token);
    const res = await ctx.request(poor.token, { method: 'POST', url: `/api/v1/threads/${thread}/entry`, payload: TUTORIAL_JSON });
    assert.equal(res.statusCode, 402);
    assert.equal(res.json().code, 'insufficient_credits');
    assert.match(res.json().message, /costs 10/);
    assert.equal(await balance(poor.token), 9);
    const entries = (await ctx.request(poor.token, { method: 'GET', url: `/api/v1/threads/${thread}/entries` })).json().data;
    assert.deepEqual(entries, []);
    // Exactly affordable works and leaves zero.
    const ok = await ctx.request(poor.token, { method: 'POST', url: `/api/v1/threads/${thread}/entry`, payload: { ...TUTORIAL_JSON, images: 1, steps: 80 } });
    assert.equal(ok.statusCode, 201, ok.body);
    assert.equal(await balance(poor.token), 0);
    await waitForResponse(ctx, poor.token, thread);
    assert.equal(await balance(poor.token), 0);
  });

  it('reserves images × max(1, round(steps × w × h / 1024² / 9)) for each request', async () => {
    const rich = await ctx.user('rich@example.com', 100_000);
    const thread = await newThread(rich.token);
    const cases: [Record<string, unknown>, number][] = [
      [{ images: 2, steps: 45, resolution: '1024x1024' }, 10],
      [{ images: 1, steps: 10, resolution: '1024x1024' }, 1],
      [{ images: 10, steps: 150, resolution: '1536x640' }, 10 * Math.round((150 * 1536 * 640) / 1048576 / 9)],
      [{ images: 3, steps: 13, resolution: '640x1536' }, 3],
      [{ images: 1, steps: 150, resolution: '1024x1024' }, 17],
    ];
    for (const [patch, cost] of cases) {
      const before = await balance(rich.token);
      const res = await ctx.request(rich.token, { method: 'POST', url: `/api/v1/threads/${thread}/entry`, payload: { ...TUTORIAL_JSON, ...patch } });
      assert.equal(res.statusCode, 201, res.body);
      assert.equal(before - (await balance(rich.token)), cost, JSON.stringify(patch));
    }
    assert.equal((await ctx.request(rich.token, { method: 'DELETE', url: `/api/v1/threads/${thread}` })).statusCode, 204);
  });

  it('GET /engines lists each engine with its model, sizes, steps, samplers, styles and the fleet serving it', async () => {
    const res = await ctx.request(user.token, { method: 'GET', url: '/api/v1/engines' });
    assert.equal(res.statusCode, 200);
    const engines = res.json().data as Record<string, any>[];
    assert.deepEqual(
      engines.map((e) => e.id),
      ['stable-diffusion-xl-1024-v1-0', 'stable-diffusion-xl-1024-v0-9', 'stable-diffusion-v1-6', 'sdapi-demo-shapes'],
    );
    const xl = engines.find((e) => e.id === 'stable-diffusion-xl-1024-v0-9')!;
    assert.deepEqual(xl.resolutions, ['1024x1024', '1152x896', '1216x832', '1344x768', '1536x640', '640x1536', '768x1344', '832x1216', '896x1152']);
    assert.deepEqual(xl.steps, { min: 10, max: 150, default: 30 });
    assert.deepEqual(xl.cfg_scale, { min: 0, max: 35, default: 7 });
    assert.deepEqual(xl.aliases, []);
    assert.equal(xl.styles.length, 17);
    assert.ok(xl.styles.includes('neon-punk'));
    assert.ok(xl.samplers.includes(xl.default_sampler));
    // From the test model's manifest (SDAPI_TEST_MODEL_DIR may name another model than the tiny SD1).
    const manifest = await inspectModel(TEST_MODEL_DIR);
    const native = `${manifest.nativeWidth}x${manifest.nativeHeight}`;
    assert.deepEqual(xl.model, { name: basename(TEST_MODEL_DIR), family: manifest.family, native_resolution: native, latent_multiple: manifest.latentMultiple, default_sampler: manifest.defaultSampler });
    assert.equal(xl.native_resolution, native);
    assert.equal(xl.upscaled, true);
    // The test context's worker loop has no heartbeat row: the engines are listed, nobody serves them.
    assert.equal(xl.workers, 0);
    assert.equal(xl.device, null);
    const shapes = engines.find((e) => e.id === 'sdapi-demo-shapes')!;
    assert.equal(shapes.upscaled, false);
    assert.equal(shapes.resolutions[0], native);
  });

  it('GET /account returns the email, balance and scheduling settings', async () => {
    const res = await ctx.request(user.token, { method: 'GET', url: '/api/v1/account' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(Object.keys(res.json().data).sort(), ['credits', 'email', 'max_queued', 'max_running', 'priority', 'queued', 'running']);
    assert.equal(res.json().data.email, 'painter@example.com');
  });

  it('progress and Retry-After are reported while a request waits', async () => {
    const thread = await newThread();
    await ctx.request(user.token, { method: 'POST', url: `/api/v1/threads/${thread}/entry`, payload: { ...TUTORIAL_JSON, images: 1, steps: 10 } });
    const first = await ctx.request(user.token, { method: 'GET', url: `/api/v1/threads/${thread}/entries` });
    const waiting = first.json().data[0];
    if (waiting.waiting_response) {
      assert.equal(first.headers['retry-after'], '1');
      assert.ok(['queued', 'running'].includes(waiting.status));
    }
    await waitForResponse(ctx, user.token, thread);
    const done = await ctx.request(user.token, { method: 'GET', url: `/api/v1/threads/${thread}/entries` });
    assert.equal(done.headers['retry-after'], undefined);
    assert.equal(done.json().data[0].progress, null);
  });
});

describe('documentation and files', () => {
  let ctx: ApiContext;
  before(async () => {
    ctx = await createApiContext();
  });
  after(() => ctx.close());

  it('serves an OpenAPI 3 document generated from the route schemas, without authentication', async () => {
    const res = await ctx.app.inject({ method: 'GET', url: '/api/v1/openapi.json' });
    assert.equal(res.statusCode, 200);
    const doc = res.json();
    assert.match(doc.openapi, /^3\./);
    for (const path of ['/api/v1/threads', '/api/v1/threads/{guid}', '/api/v1/threads/{guid}/entry', '/api/v1/threads/{guid}/entries', '/api/v1/engines', '/api/v1/account']) {
      assert.ok(doc.paths[path], `${path} documented`);
    }
    const body = doc.paths['/api/v1/threads/{guid}/entry'].post.requestBody.content;
    assert.ok(body['application/x-www-form-urlencoded'] && body['multipart/form-data'] && body['application/json']);
    assert.equal(doc.components.securitySchemes.bearerAuth.scheme, 'bearer');
    const engine = doc.paths['/api/v1/engines'].get.responses['200'].content['application/json'].schema.properties.data.items.properties;
    for (const field of ['aliases', 'workers', 'queued', 'device', 'default_sampler', 'upscaled']) assert.equal(typeof engine[field]?.description, 'string', `${field} is documented`);
    assert.match(engine.device.description, /null while no worker serves it/);
    assert.equal(engine.device.nullable, true);
    assert.equal(engine.model.properties.latent_multiple.type, 'integer');
  });

  it('serves Swagger UI at /docs', async () => {
    const res = await ctx.app.inject({ method: 'GET', url: '/docs/' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /text\/html/);
  });

  it('storage never serves a path outside the storage folder', async () => {
    const { writeFile, mkdir } = await import('node:fs/promises');
    await writeFile(join(ctx.dataDir, 'secret.png'), 'secret');
    await mkdir(join(ctx.dataDir, 'storage', 'x'), { recursive: true });
    await writeFile(join(ctx.dataDir, 'storage', 'x', 'ok.png'), 'png');
    assert.equal((await ctx.app.inject({ method: 'GET', url: '/storage/x/ok.png' })).statusCode, 200);
    for (const url of [
      '/storage/../secret.png',
      '/storage/%2e%2e/secret.png',
      '/storage/x/%2e%2e/%2e%2e/secret.png',
      '/storage/x/..%2f..%2fsecret.png',
      '/storage/%2fetc%2fpasswd',
      '/storage/x/ok.png%00.png',
      '/storage/x\\..\\..\\secret.png',
      '/storage/sdapi.db',
      '/storage/x/ok.txt',
      '/storage/',
    ]) {
      const res = await ctx.app.inject({ method: 'GET', url });
      assert.ok([400, 404].includes(res.statusCode), `${url} → ${res.statusCode}`);
      assert.notEqual(res.body, 'secret');
    }
  });
});
