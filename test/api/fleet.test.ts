/**
 * Serving a fleet, in-process through the composition root: an API process that never loads a model, engines routed
 * to the workers that serve them (each image from its own model), Turbo and LCM engines through the API, the device
 * fallback, tenant-facing error ids, and the sweep that fails requests no worker serves.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import sharp from 'sharp';
import { openRuntime, type Runtime } from '../../src/composition/runtime.ts';
import { startServer, type RunningServer } from '../../src/composition/server.ts';
import { startGenerationWorkers, type GenerationWorkers } from '../../src/composition/generation-workers.ts';
import { loadConfig, projectRoot } from '../../src/config/load-config.ts';
import { StartupError } from '../../src/domain/errors.ts';
import { onnxSessionsCreated } from '../../src/engine/index.ts';
import { WorkerPresence } from '../../src/services/fleet/worker-presence.ts';
import { EngineThreadGenerator } from '../../src/services/generation/engine-generator.ts';
import type { EngineEntry } from '../../src/services/generation/engine-registry.ts';
import { readTextChunks } from '../../src/services/generation/png-text.ts';
import { LocalFileStorage } from '../../src/storage/local-storage.ts';
import { createApiContext, waitForResponse, type ApiContext } from '../helpers/api-context.ts';
import { steppingClock } from '../helpers/clock.ts';

const tiny = (name: string) => join(projectRoot, 'models/tiny', name);
const SD1: EngineEntry = { id: 'tiny-sd1', model: tiny('sd1'), steps: { min: 1, default: 2 }, resolutions: ['64x64', '32x48'] };
const XL: EngineEntry = { id: 'tiny-xl', model: tiny('sdxl'), steps: { min: 1, default: 1 }, cfg_scale: { default: 0 }, resolutions: ['128x128', '64x64'] };

/** A pino logger whose records the test can read. */
function captureLogger() {
  const records: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) records.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), records };
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function newThread(ctx: ApiContext, token: string): Promise<string> {
  return (await ctx.request(token, { method: 'POST', url: '/api/v1/threads', payload: { ai_version_code: 'stablediffusion_text2img' } })).json().data.guid;
}

async function post(ctx: ApiContext, token: string, thread: string, body: Record<string, unknown>) {
  return ctx.request(token, { method: 'POST', url: `/api/v1/threads/${thread}/entry`, payload: { prompts: [{ text: 'a red circle', weight: 1 }], ...body } });
}

/** The response entry's PNGs: their sizes and `parameters` chunks. */
async function images(ctx: ApiContext, response: Record<string, any>): Promise<{ width: number; height: number; parameters: string }[]> {
  return Promise.all(
    (response.content as { url: string }[]).map(async (item) => {
      const png = (await ctx.request(null, { method: 'GET', url: new URL(item.url).pathname })).rawPayload;
      const meta = await sharp(png).metadata();
      return { width: meta.width ?? 0, height: meta.height ?? 0, parameters: readTextChunks(png).parameters };
    }),
  );
}

async function enginesList(ctx: ApiContext, token: string): Promise<Record<string, any>[]> {
  return (await ctx.request(token, { method: 'GET', url: '/api/v1/engines' })).json().data;
}

describe('an API process without workers', () => {
  let server: RunningServer;
  let dataDir: string;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'sdapi-api-only-'));
    const config = loadConfig({ SDAPI_DATA_DIR: dataDir, SDAPI_WORKERS: '0', PORT: '0', SDAPI_ENGINES: '' });
    server = await startServer({ ...config }, { logger: pino({ level: 'silent' }), overrides: { engines: [SD1, XL] } });
  });
  after(async () => {
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('lists engines and accepts requests without creating a single ONNX session', async () => {
    const sessions = onnxSessionsCreated();
    const { services } = server.runtime;
    const user = await services.users.create('api-only@example.com', 'correct horse battery');
    await services.credits.grant(user.id, 100, 'test');
    const app = await services.applications.create(user.id, 'test');
    const { token } = await services.applications.createToken(user.id, app.id);
    const auth = { authorization: `Bearer ${token}` };
    const listed = await server.app.inject({ method: 'GET', url: '/api/v1/engines', headers: auth });
    assert.equal(listed.statusCode, 200);
    const engines = listed.json().data as Record<string, any>[];
    assert.deepEqual(
      engines.map((e) => [e.id, e.model.family, e.native_resolution, e.model.latent_multiple, e.workers, e.device]),
      [
        ['tiny-sd1', 'sd1', '64x64', 8, 0, null],
        ['tiny-xl', 'sdxl', '128x128', 8, 0, null],
      ],
    );
    const thread = (await server.app.inject({ method: 'POST', url: '/api/v1/threads', headers: auth, payload: { ai_version_code: 'stablediffusion_text2img' } })).json().data.guid;
    const body = { engine: 'tiny-xl', resolution: '128x128', prompts: [{ text: 'a cat', weight: 1 }], sampler: 'K_EULER' };
    const created = await server.app.inject({ method: 'POST', url: `/api/v1/threads/${thread}/entry`, headers: auth, payload: body });
    assert.equal(created.statusCode, 201, created.body);
    const invalid = await server.app.inject({ method: 'POST', url: `/api/v1/threads/${thread}/entry`, headers: auth, payload: { ...body, sampler: 'lcm', steps: 9 } });
    assert.equal(invalid.statusCode, 422);
    assert.deepEqual(Object.keys(invalid.json().errors).sort(), ['sampler']);
    assert.equal(onnxSessionsCreated(), sessions, 'no session in this thread');
    assert.ok(server.runtime.generator instanceof EngineThreadGenerator);
    assert.equal(server.runtime.generator.threadsStarted, 0, 'no engine thread either');
    assert.equal(server.workers, undefined);
  });
});

describe('routing: each worker claims only the engines it serves', () => {
  let api: ApiContext;
  let user: { id: string; token: string };
  const runtimes: Runtime[] = [];
  const workers: GenerationWorkers[] = [];
  before(async () => {
    api = await createApiContext({ overrides: { engines: [SD1, XL] } });
    user = await api.user('router@example.com', 1000);
  });
  after(async () => {
    for (const w of workers) await w.stop();
    for (const r of runtimes) await r.close();
    await api.close();
  });

  /** A worker process's runtime on the API's database and storage, serving only `engines`. */
  async function startWorker(engines: EngineEntry[]): Promise<{ runtime: Runtime; workers: GenerationWorkers }> {
    const runtime = await openRuntime(api.config, { engines }, { logger: pino({ level: 'silent' }) });
    runtimes.push(runtime);
    const started = await startGenerationWorkers(runtime, { concurrency: 1, idleMs: 50 });
    workers.push(started);
    return { runtime, workers: started };
  }

  it("each engine's images come from its own model; the other engine's job waits for a worker that serves it", async () => {
    const sd1Thread = await newThread(api, user.token);
    const xlThread = await newThread(api, user.token);
    // The XL request first: the SD1-only worker must pass over it.
    assert.equal((await post(api, user.token, xlThread, { engine: 'tiny-xl', resolution: '128x128' })).statusCode, 201);
    assert.equal((await post(api, user.token, sd1Thread, { engine: 'tiny-sd1', resolution: '32x48' })).statusCode, 201);
    const sd1Worker = await startWorker([SD1]);

    const [, sd1Response] = await waitForResponse(api, user.token, sd1Thread, 60_000);
    const [sd1Image] = await images(api, sd1Response);
    assert.deepEqual([sd1Image.width, sd1Image.height], [32, 48]);
    assert.match(sd1Image.parameters, /Size: 32x48, Model: sd1$/);

    const xlJob = () => api.store.db.selectFrom('jobs').select(['status', 'engine', 'attempts']).where('engine', '=', 'tiny-xl').executeTakeFirstOrThrow();
    assert.deepEqual(await xlJob(), { status: 'pending', engine: 'tiny-xl', attempts: 0 });
    // The filter the worker claims with leaves it there however often it asks.
    assert.equal(await sd1Worker.runtime.queue.claim({ engines: sd1Worker.runtime.services.engines.ids() }), undefined);
    assert.deepEqual(await xlJob(), { status: 'pending', engine: 'tiny-xl', attempts: 0 });

    // GET /engines: the SD1 worker is live on the CPU; the XL request waits with nobody serving it.
    const listed = await waitFor('the fleet in GET /engines', async () => {
      const engines = await enginesList(api, user.token);
      return engines.find((e) => e.id === 'tiny-sd1')?.workers === 1 ? engines : undefined;
    });
    assert.deepEqual(
      listed.map((e) => [e.id, e.workers, e.queued, e.device]),
      [
        ['tiny-sd1', 1, 0, 'cpu'],
        ['tiny-xl', 0, 1, null],
      ],
    );

    await startWorker([XL]);
    const [, xlResponse] = await waitForResponse(api, user.token, xlThread, 120_000);
    assert.equal(xlResponse.status, 'done', xlResponse.error);
    const [xlImage] = await images(api, xlResponse);
    assert.deepEqual([xlImage.width, xlImage.height], [128, 128]);
    assert.match(xlImage.parameters, /CFG scale: 0, .*Size: 128x128, Model: sdxl$/);
    assert.equal((await xlJob()).status, 'done');
  });
});

describe('Turbo and LCM engines through the API', () => {
  let ctx: ApiContext;
  let user: { id: string; token: string };
  before(async () => {
    const engines: EngineEntry[] = [
      { id: 'tiny-turbo', model: tiny('sd1'), family: 'sd-turbo', resolutions: ['64x64'], aliases: ['sd-turbo'] },
      { id: 'tiny-lcm', model: tiny('lcm'), resolutions: ['64x64'] },
    ];
    ctx = await createApiContext({ worker: true, overrides: { engines } });
    user = await ctx.user('fast@example.com', 100);
  });
  after(() => ctx.close());

  it('a Turbo engine takes 1–4 steps at cfg 0, an LCM engine 2–8 steps; both generate', async () => {
    const engines = await enginesList(ctx, user.token);
    assert.deepEqual(
      engines.map((e) => [e.id, e.model.family, e.steps, e.cfg_scale.default, e.samplers.length]),
      [
        ['tiny-turbo', 'sd-turbo', { min: 1, max: 4, default: 1 }, 0, 7],
        ['tiny-lcm', 'lcm', { min: 2, max: 8, default: 4 }, 1.5, 1],
      ],
    );
    const thread = await newThread(ctx, user.token);
    const tooMany = await post(ctx, user.token, thread, { engine: 'tiny-turbo', resolution: '64x64', steps: 5 });
    assert.equal(tooMany.statusCode, 422);
    assert.deepEqual(tooMany.json().errors, { steps: ['The steps must be between 1 and 4.'] });
    const tooFew = await post(ctx, user.token, thread, { engine: 'tiny-lcm', resolution: '64x64', steps: 1 });
    assert.deepEqual(tooFew.json().errors, { steps: ['The steps must be between 2 and 8.'] });

    for (const [engine, steps] of [['sd-turbo', 1], ['tiny-turbo', 4], ['tiny-lcm', 4], ['tiny-lcm', 2]] as const) {
      const t = await newThread(ctx, user.token);
      const created = await post(ctx, user.token, t, { engine, resolution: '64x64', steps });
      assert.equal(created.statusCode, 201, created.body);
      assert.equal(created.json().data.content.engine, engine, 'the request echoes the id the client sent');
      const [request, response] = await waitForResponse(ctx, user.token, t, 60_000);
      assert.equal(request.status, 'done', response.error);
      const [image] = await images(ctx, response);
      assert.deepEqual([image.width, image.height], [64, 64]);
      const cfg = engine === 'tiny-lcm' ? 1.5 : 0;
      assert.match(image.parameters, new RegExp(`Steps: ${steps}, Sampler: \\w+, CFG scale: ${cfg}, `));
    }
    const jobs = await ctx.store.db.selectFrom('jobs').select('engine').orderBy('created_at').execute();
    assert.deepEqual(
      jobs.map((j) => j.engine),
      ['tiny-turbo', 'tiny-turbo', 'tiny-lcm', 'tiny-lcm'],
      'jobs record the canonical engine id',
    );
  });
});

describe('tenant-facing errors', () => {
  let ctx: ApiContext;
  const log = captureLogger();
  before(async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sdapi-failing-storage-'));
    class FailingStorage extends LocalFileStorage {
      override async put(key: string): Promise<void> {
        const err: NodeJS.ErrnoException = new Error(`EPERM: operation not permitted, open '/srv/sdapi/storage/${key}.tmp'`);
        err.code = 'EPERM';
        throw err;
      }
    }
    ctx = await createApiContext({ worker: true, logger: log.logger, overrides: { storage: new FailingStorage(dataDir), engines: [SD1] } });
  });
  after(() => ctx.close());

  it('a job failing inside shows "Image generation failed (error id X)"; the log has X with the full reason', async () => {
    const user = await ctx.user('victim@example.com', 10);
    const thread = await newThread(ctx, user.token);
    const created = await post(ctx, user.token, thread, { engine: 'tiny-sd1', resolution: '64x64', steps: 1 });
    assert.equal(created.statusCode, 201);
    const [request, response] = await waitForResponse(ctx, user.token, thread, 60_000);
    assert.equal(request.status, 'failed');
    const m = /^Image generation failed \(error id ([0-9a-f]{10})\)$/.exec(response.error);
    assert.ok(m, response.error);
    assert.doesNotMatch(JSON.stringify([request, response]), /EPERM|\/srv\/|\.tmp|onnx/i);
    assert.equal((await ctx.request(user.token, { method: 'GET', url: '/api/v1/account' })).json().data.credits, 10, 'refunded');
    const record = log.records.find((r) => r.errorId === m[1]);
    assert.ok(record, JSON.stringify(log.records));
    assert.equal(record.level, 50, 'error level');
    assert.equal(record.entryId, request.guid);
    const job = await ctx.store.db.selectFrom('jobs').select('id').where('entry_id', '=', request.guid).executeTakeFirstOrThrow();
    assert.equal(record.jobId, job.id);
    const err = record.err as { message: string; code: string };
    assert.match(err.message, /^EPERM: operation not permitted, open '\/srv\/sdapi\/storage\/.*\.png\.tmp'$/);
    assert.equal(err.code, 'EPERM');
  });
});

describe('requests for an engine nobody serves', () => {
  let ctx: ApiContext;
  const clock = steppingClock(Date.parse('2030-01-01T00:00:00Z'));
  before(async () => {
    ctx = await createApiContext({ overrides: { engines: [SD1, XL], clock }, env: { SDAPI_QUEUE_TIMEOUT: '1h' } });
  });
  after(() => ctx.close());

  it('fail after SDAPI_QUEUE_TIMEOUT with a clear message and a refund, exactly once however many processes sweep', async () => {
    const user = await ctx.user('patient@example.com', 20);
    // A worker (row) that serves SD1 only: its heartbeat keeps SD1 requests waiting however long.
    const presence = new WorkerPresence({ store: ctx.store, id: 'other-host:1:boot:1', concurrency: 1, engines: () => [{ id: 'tiny-sd1', device: 'cpu' }], clock });
    await presence.start();
    const xlThread = await newThread(ctx, user.token);
    const sd1Thread = await newThread(ctx, user.token);
    assert.equal((await post(ctx, user.token, xlThread, { engine: 'tiny-xl', resolution: '128x128' })).statusCode, 201);
    assert.equal((await post(ctx, user.token, sd1Thread, { engine: 'tiny-sd1', resolution: '64x64' })).statusCode, 201);
    const balance = async () => (await ctx.request(user.token, { method: 'GET', url: '/api/v1/account' })).json().data.credits;
    const reserved = await balance();

    assert.equal(await ctx.services.sweeper.sweep(), 0, 'nothing has waited an hour yet');
    clock.advance(59 * 60_000);
    await presence.beat();
    assert.equal(await ctx.services.sweeper.sweep(), 0);
    clock.advance(2 * 60_000);
    await presence.beat();
    // Two processes sweeping at once: one of them fails the request.
    const other = await openRuntime(ctx.config, { engines: [SD1, XL], clock }, { logger: pino({ level: 'silent' }), runsModels: false });
    try {
      const swept = await Promise.all([ctx.services.entries.expireUnserved({ timeoutMs: 3_600_000, servedEngines: ['tiny-sd1'] }), other.services.sweeper.sweep()]);
      assert.equal(swept[0] + swept[1], 1);
    } finally {
      await other.close();
    }
    const [request, response] = (await ctx.request(user.token, { method: 'GET', url: `/api/v1/threads/${xlThread}/entries` })).json().data;
    assert.equal(request.status, 'failed');
    assert.equal(response.error, 'No worker served engine tiny-xl for 1 h; the request was cancelled and refunded.');
    assert.equal(await balance(), reserved + 1, 'the XL request (1 credit) was refunded');
    const ledger = (await ctx.services.credits.listLedger(user.id)).items.filter((l) => l.entryId === request.guid).map((l) => l.kind);
    assert.deepEqual(ledger.sort(), ['refund', 'reserve']);
    const sd1 = (await ctx.request(user.token, { method: 'GET', url: `/api/v1/threads/${sd1Thread}/entries` })).json().data;
    assert.deepEqual(
      sd1.map((e: { status: string }) => e.status),
      ['queued'],
      'a served engine keeps its queue',
    );

    // Once the SD1 worker stops (its row goes), SD1 requests older than the timeout fail too.
    await presence.stop();
    clock.advance(61 * 60_000);
    assert.equal(await ctx.services.sweeper.sweep(), 1);
  });
});

describe('the device', () => {
  let server: RunningServer;
  let dataDir: string;
  const log = captureLogger();
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'sdapi-device-'));
    const config = loadConfig({ SDAPI_DATA_DIR: dataDir, SDAPI_WORKERS: '1', PORT: '0', SDAPI_DEVICE: 'cuda' });
    server = await startServer(config, { logger: log.logger, overrides: { engines: [SD1, { ...XL, device: 'cuda:1' }] } });
  });
  after(async () => {
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('without the CUDA provider: one warning at start, generation on the CPU, GET /engines says cpu; strict refuses to start', async (t) => {
    if (server.runtime.services.engines.list().some((e) => e.device !== 'cpu')) return t.skip('this install has the CUDA provider');
    const warnings = log.records.filter((r) => r.level === 40);
    assert.equal(warnings.length, 1, JSON.stringify(warnings));
    assert.match(String(warnings[0].msg), /no CUDA execution provider .*tiny-sd1 \(cuda:0\), tiny-xl \(cuda:1\) run on the CPU instead/);

    const { services } = server.runtime;
    const user = await services.users.create('gpu@example.com', 'correct horse battery');
    await services.credits.grant(user.id, 10, 'test');
    const { token } = await services.applications.createToken(user.id, (await services.applications.create(user.id, 'gpu')).id);
    const auth = { authorization: `Bearer ${token}` };
    const thread = (await server.app.inject({ method: 'POST', url: '/api/v1/threads', headers: auth, payload: { ai_version_code: 'stablediffusion_text2img' } })).json().data.guid;
    const created = await server.app.inject({ method: 'POST', url: `/api/v1/threads/${thread}/entry`, headers: auth, payload: { engine: 'tiny-sd1', resolution: '64x64', prompts: [{ text: 'x', weight: 1 }], steps: 1 } });
    assert.equal(created.statusCode, 201);
    const entries = await waitFor('the response', async () => {
      const data = (await server.app.inject({ method: 'GET', url: `/api/v1/threads/${thread}/entries`, headers: auth })).json().data as Record<string, any>[];
      return data.length === 2 ? data : undefined;
    });
    assert.equal(entries[1].status, 'done', entries[1].error);
    const engines = await waitFor('the devices in GET /engines', async () => {
      const data = (await server.app.inject({ method: 'GET', url: '/api/v1/engines', headers: auth })).json().data as Record<string, any>[];
      return data.every((e) => e.workers === 1) ? data : undefined;
    });
    assert.deepEqual(
      engines.map((e) => [e.id, e.device]),
      [
        ['tiny-sd1', 'cpu'],
        ['tiny-xl', 'cpu'],
      ],
    );
    assert.equal(log.records.filter((r) => r.level === 40).length, 1, 'still one warning');

    const strict = loadConfig({ SDAPI_DATA_DIR: dataDir, SDAPI_DEVICE: 'cuda', SDAPI_DEVICE_STRICT: '1' });
    await assert.rejects(openRuntime(strict, { engines: [SD1] }, { logger: pino({ level: 'silent' }) }), (err: unknown) => {
      assert.ok(err instanceof StartupError);
      assert.match(err.problems[0], /^engine "tiny-sd1": device cuda:0 is not available: .*SDAPI_DEVICE_STRICT=1/);
      return true;
    });
  });
});
