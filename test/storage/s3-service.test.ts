/**
 * The service on an S3 bucket (s3rver on 127.0.0.1), configured the way an operator does it: SDAPI_STORAGE_URL,
 * SDAPI_S3_* and the AWS variables through loadConfig(). A request's images and thumbnails are written to the bucket
 * with their content types, served through /storage, and deleted with the entry or thread; an outage fails the job
 * cleanly (refunded, nothing left behind) while the API keeps serving; a bucket that cannot be used stops start-up
 * with one line.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { main } from '../../src/cli/main.ts';
import { openRuntime } from '../../src/composition/runtime.ts';
import { retryFileDeletions } from '../../src/composition/startup-checks.ts';
import { loadConfig, projectRoot } from '../../src/config/load-config.ts';
import { StartupError } from '../../src/domain/errors.ts';
import type { GenerateControl, GenerateRequest, ImageGenerator, ModelTarget } from '../../src/services/generation/image-generator.ts';
import type { EngineEntry } from '../../src/services/generation/engine-registry.ts';
import { StorageUnavailableError, type PutOptions } from '../../src/storage/file-storage.ts';
import { S3FileStorage } from '../../src/storage/s3-storage.ts';
import type { GeneratedImage } from '../../src/engine/index.ts';
import { createApiContext, TEST_MODEL_DIR, type ApiContext } from '../helpers/api-context.ts';
import { S3RVER_CREDENTIALS, startS3Server, type TestS3Server } from '../helpers/s3-server.ts';

const SD1: EngineEntry = { id: 'tiny-sd1', model: join(projectRoot, 'models/tiny/sd1'), steps: { min: 1, default: 1 }, resolutions: ['64x64'] };
const REQUEST = { engine: 'tiny-sd1', resolution: '64x64', steps: 1, prompts: [{ text: 'a red circle', weight: 1 }] };

/** The variables an operator sets for this server (s3rver needs path style, its fixed keys and no CRC32 checksums). */
function s3Env(s3: TestS3Server, prefix: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    SDAPI_STORAGE_URL: `s3://${s3.bucket}/${prefix}`,
    SDAPI_S3_ENDPOINT: s3.endpoint,
    SDAPI_S3_FORCE_PATH_STYLE: '1',
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    ...extra,
  };
}

/** Object keys under a prefix, sorted. */
async function listKeys(storage: S3FileStorage, prefix: string): Promise<string[]> {
  const res = await (await storage.client()).send(new ListObjectsV2Command({ Bucket: storage.bucket, Prefix: `${prefix}/` }));
  return (res.Contents ?? []).map((o) => o.Key ?? '').sort();
}

/** Passes generations through, except that hold() makes the next ones wait for release(); `started` resolves when one waits. */
class GateGenerator implements ImageGenerator {
  #gate: Promise<void> | undefined;
  #open: (() => void) | undefined;
  #onWait: (() => void) | undefined;
  constructor(private readonly inner: ImageGenerator) {}
  hold(): Promise<void> {
    this.#gate = new Promise((resolve) => (this.#open = resolve));
    return new Promise((resolve) => (this.#onWait = resolve));
  }
  release(): void {
    this.#open?.();
    this.#gate = undefined;
  }
  preload(target: ModelTarget): Promise<string> {
    return this.inner.preload(target);
  }
  deviceFor(target: ModelTarget): string {
    return this.inner.deviceFor(target);
  }
  async generate(target: ModelTarget, request: GenerateRequest, control: GenerateControl = {}): Promise<GeneratedImage[]> {
    if (this.#gate) {
      this.#onWait?.();
      await this.#gate;
    }
    return this.inner.generate(target, request, control);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    assert.ok(Date.now() < deadline, what);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function newThread(ctx: ApiContext, token: string): Promise<string> {
  return (await ctx.request(token, { method: 'POST', url: '/api/v1/threads', payload: { ai_version_code: 'stablediffusion_text2img' } })).json().data.guid;
}

/** Posts a request and waits for its response entry. */
async function generate(ctx: ApiContext, token: string, thread: string, body: Record<string, unknown> = {}): Promise<{ request: Record<string, any>; response: Record<string, any> }> {
  const created = await ctx.request(token, { method: 'POST', url: `/api/v1/threads/${thread}/entry`, payload: { ...REQUEST, ...body } });
  assert.equal(created.statusCode, 201, created.body);
  const guid = created.json().data.guid as string;
  return waitFor(`no response to ${guid}`, async () => {
    const entries = (await ctx.request(token, { method: 'GET', url: `/api/v1/threads/${thread}/entries` })).json().data as Record<string, any>[];
    const response = entries.find((e) => e.type === 'response' && e.request_guid === guid);
    const request = entries.find((e) => e.guid === guid);
    return response && request ? { request, response } : undefined;
  });
}

const credits = async (ctx: ApiContext, token: string): Promise<number> => (await ctx.request(token, { method: 'GET', url: '/api/v1/account' })).json().data.credits;
const get = (ctx: ApiContext, url: string, headers: Record<string, string> = {}) => ctx.request(null, { method: 'GET', url: new URL(url).pathname, headers });

describe('the service on an S3 bucket (s3rver)', () => {
  let s3: TestS3Server;
  let ctx: ApiContext;
  let gate: GateGenerator;
  let bucket: S3FileStorage;
  const commands = new Map<string, number>();

  before(async () => {
    s3 = await startS3Server({ lifetimeMs: 600_000 });
    bucket = s3.storage();
    ctx = await createApiContext({
      worker: true,
      env: s3Env(s3, 'svc'),
      overrides: { engines: [SD1], wrapGenerator: (generator) => (gate = new GateGenerator(generator)) },
    });
    assert.ok(ctx.runtime.storage instanceof S3FileStorage, 'the configured storage is the bucket');
    // Counts the SDK commands the service sends (DeleteObjects batches).
    (await ctx.runtime.storage.client()).middlewareStack.add(
      (next, context) => async (args) => {
        commands.set(String(context.commandName), (commands.get(String(context.commandName)) ?? 0) + 1);
        return next(args);
      },
      { step: 'initialize', name: 'countCommands' },
    );
  });
  after(async () => {
    gate?.release();
    await ctx?.close();
    await s3?.close();
  });

  it('stores PNG and thumbnail with their types in the bucket, serves them through /storage, deletes them with the entry and the thread', async () => {
    const user = await ctx.user('s3@example.com', 20);
    const thread = await newThread(ctx, user.token);
    const first = await generate(ctx, user.token, thread, { images: 2 });
    assert.equal(first.response.error, null, first.response.error);
    assert.equal(first.response.content.length, 2);
    const second = await generate(ctx, user.token, thread);
    assert.equal(second.response.error, null);

    for (const item of [...first.response.content, ...second.response.content] as { url: string; thumbnail_url: string; filesize: number }[]) {
      const key = new URL(item.url).pathname.replace(/^\/storage\//, '');
      const image = await get(ctx, item.url);
      assert.equal(image.statusCode, 200);
      assert.equal(image.headers['content-type'], 'image/png');
      assert.equal(image.rawPayload.length, item.filesize);
      const meta = await sharp(image.rawPayload).metadata();
      assert.equal(`${meta.format} ${meta.width}x${meta.height}`, 'png 64x64');
      const thumb = await get(ctx, item.thumbnail_url);
      assert.equal(thumb.statusCode, 200);
      assert.equal(thumb.headers['content-type'], 'image/jpeg');
      assert.equal((await sharp(thumb.rawPayload).metadata()).format, 'jpeg');
      const range = await get(ctx, item.url, { range: 'bytes=0-7' });
      assert.equal(range.statusCode, 206);
      assert.deepEqual([...range.rawPayload], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

      const client = await bucket.client();
      const head = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: `svc/${key}` }));
      assert.equal(head.ContentType, 'image/png');
      assert.equal(head.CacheControl, 'private, max-age=31536000, immutable');
      const thumbHead = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: `svc/${key}.thumbnail.jpg` }));
      assert.equal(thumbHead.ContentType, 'image/jpeg');
    }
    assert.equal((await listKeys(bucket, 'svc')).length, 6, 'three images, three thumbnails');
    assert.ok(!existsSync(join(ctx.dataDir, 'storage', 'stablediffusion_text2img')), 'nothing was written to the data directory');

    // Deleting the second request deletes its two objects (one DeleteObjects call) and leaves the first request's.
    const before = commands.get('DeleteObjectsCommand') ?? 0;
    const del = await ctx.request(user.token, { method: 'DELETE', url: `/api/v1/threads/${thread}/entries/${second.request.guid}` });
    assert.equal(del.statusCode, 204);
    assert.equal(commands.get('DeleteObjectsCommand'), before + 1);
    assert.equal((await listKeys(bucket, 'svc')).length, 4);
    assert.equal((await get(ctx, second.response.content[0].url)).statusCode, 404);
    assert.equal((await get(ctx, first.response.content[0].url)).statusCode, 200);

    // Deleting the thread deletes the rest, in one batch.
    assert.equal((await ctx.request(user.token, { method: 'DELETE', url: `/api/v1/threads/${thread}` })).statusCode, 204);
    assert.equal(commands.get('DeleteObjectsCommand'), before + 2);
    assert.deepEqual(await listKeys(bucket, 'svc'), []);
    assert.equal(await ctx.store.repos.fileDeletions.count(), 0, 'deleted files leave no record behind');
    for (const item of first.response.content) {
      assert.equal((await get(ctx, item.url)).statusCode, 404);
      assert.equal((await get(ctx, item.thumbnail_url)).statusCode, 404);
    }
  });

  it('the bucket stopped mid-job: the job fails, is refunded and leaves no object; the API keeps serving and recovers', async () => {
    const user = await ctx.user('outage@example.com', 10);
    const thread = await newThread(ctx, user.token);
    const kept = await generate(ctx, user.token, thread);
    assert.equal(kept.response.error, null);
    assert.equal(await credits(ctx, user.token), 9);

    const waiting = gate.hold();
    const created = await ctx.request(user.token, { method: 'POST', url: `/api/v1/threads/${thread}/entry`, payload: REQUEST });
    assert.equal(created.statusCode, 201);
    await waiting; // the job is running, its images are being generated
    await s3.stop();
    gate.release();
    const failed = await waitFor('the job did not fail', async () => {
      const entries = (await ctx.request(user.token, { method: 'GET', url: `/api/v1/threads/${thread}/entries` })).json().data as Record<string, any>[];
      return entries.find((e) => e.type === 'response' && e.request_guid === created.json().data.guid);
    });
    assert.match(failed.error, /^Image generation failed: the images could not be stored \(error id [0-9a-f]{10}\)$/);
    assert.doesNotMatch(JSON.stringify(failed), /127\.0\.0\.1|ECONNREFUSED|sdapi-test|S3RVER/);
    assert.equal(await credits(ctx, user.token), 9, 'refunded');

    // The API keeps serving: accounts, threads, and 503 (not 500, no internals) for images while the bucket is away.
    assert.equal((await ctx.request(user.token, { method: 'GET', url: `/api/v1/threads/${thread}/entries` })).statusCode, 200);
    const away = await get(ctx, kept.response.content[0].url);
    assert.equal(away.statusCode, 503);
    assert.deepEqual(away.json(), { message: 'Image storage is unavailable at the moment; try again shortly.', code: 'storage_unavailable' });

    await s3.start();
    assert.equal((await get(ctx, kept.response.content[0].url)).statusCode, 200, 'served again once the bucket is back');
    const keys = await listKeys(bucket, 'svc');
    assert.equal(keys.length, 2, `only the kept request's objects: ${keys.join(', ')}`);
    const again = await generate(ctx, user.token, thread);
    assert.equal(again.response.error, null, 'new jobs succeed again');
    assert.equal(await credits(ctx, user.token), 8);
  });

  it('a thread deleted while the bucket is away is deleted at once; its objects are deleted by the housekeeping retry', async () => {
    const user = await ctx.user('later@example.com', 10);
    const thread = await newThread(ctx, user.token);
    const { response } = await generate(ctx, user.token, thread, { images: 2 });
    assert.equal(response.error, null);
    const keys = (response.content as { url: string }[]).flatMap((item) => {
      const key = `svc${new URL(item.url).pathname.replace(/^\/storage/, '')}`;
      return [key, `${key}.thumbnail.jpg`];
    });
    const present = async () => (await listKeys(bucket, 'svc')).filter((k) => keys.includes(k)).length;
    assert.equal(await present(), 4);
    // The job that failed in the outage above could not delete (or confirm absent) its two keys then: they wait too.
    const waiting = await ctx.store.repos.fileDeletions.count();

    await s3.stop();
    try {
      assert.equal((await ctx.request(user.token, { method: 'DELETE', url: `/api/v1/threads/${thread}` })).statusCode, 204, 'the tenant’s deletion stands');
      assert.equal((await ctx.request(user.token, { method: 'GET', url: `/api/v1/threads/${thread}` })).statusCode, 404);
      assert.equal(await ctx.store.repos.fileDeletions.count(), waiting + 4, 'the four keys wait for a retry');
      assert.deepEqual(await ctx.services.files.retry(), { deleted: 0, pending: waiting + 4 }, 'still away: kept');
    } finally {
      await s3.start();
    }
    assert.equal(await present(), 4, 'the objects outlived the outage');
    const logs: string[] = [];
    const logger = { info: (_: object, msg?: string) => void logs.push(`info ${msg}`), warn: (_: object, msg?: string) => void logs.push(`warn ${msg}`), error: (_: object, msg?: string) => void logs.push(`error ${msg}`) };
    await retryFileDeletions(ctx.runtime, logger as unknown as Parameters<typeof retryFileDeletions>[1]);
    assert.deepEqual(logs, ['info deleted image files left behind by a storage outage']);
    assert.equal(await present(), 0);
    assert.equal(await ctx.store.repos.fileDeletions.count(), 0);
    const rows = await ctx.store.db.selectFrom('file_deletions').selectAll().execute();
    assert.deepEqual(rows, []);
  });
});

describe('SDAPI_S3_PRESIGN=1 through the environment', () => {
  it('redirects /storage to a presigned URL that serves the object; closing the runtime closes the S3 client', async () => {
    const s3 = await startS3Server();
    const ctx = await createApiContext({ env: s3Env(s3, 'signed', { SDAPI_S3_PRESIGN: '1' }), overrides: { engines: [SD1] } });
    try {
      const storage = ctx.runtime.storage;
      assert.ok(storage instanceof S3FileStorage);
      assert.equal(storage.presignSeconds, 300);
      await storage.put('stablediffusion_text2img/0b6f3d1e-5c1a-4f7e-9a53-2d6c1f0e8a11.png', Buffer.from('png bytes'), { contentType: 'image/png' });
      const res = await ctx.request(null, { method: 'GET', url: '/storage/stablediffusion_text2img/0b6f3d1e-5c1a-4f7e-9a53-2d6c1f0e8a11.png' });
      assert.equal(res.statusCode, 302);
      const location = String(res.headers.location);
      assert.ok(location.startsWith(`${s3.endpoint}/${s3.bucket}/signed/stablediffusion_text2img/`), location);
      assert.match(location, /X-Amz-Expires=300/);
      const direct = await fetch(location);
      assert.equal(direct.status, 200);
      assert.equal(await direct.text(), 'png bytes');

      const client = await storage.client();
      let destroyed = false;
      const destroy = client.destroy.bind(client);
      client.destroy = () => {
        destroyed = true;
        destroy();
      };
      await ctx.close();
      assert.ok(destroyed, 'the runtime closed the S3 client');
    } finally {
      await ctx.close();
      await s3.close();
    }
  });
});

describe('a failed upload after the first object: nothing is left behind', () => {
  let s3: TestS3Server;
  let ctx: ApiContext;
  let bucket: S3FileStorage;

  /** Stores PNGs but fails every thumbnail, as a bucket that goes away between the two uploads would. */
  class ThumbnailsFail extends S3FileStorage {
    override async put(key: string, data: Uint8Array, options?: PutOptions): Promise<void> {
      if (key.endsWith('.jpg')) throw new StorageUnavailableError(`S3 storage could not store "${key}": connection refused (ECONNREFUSED)`);
      return super.put(key, data, options);
    }
  }

  before(async () => {
    s3 = await startS3Server();
    bucket = s3.storage();
    ctx = await createApiContext({ worker: true, overrides: { engines: [SD1], storage: new ThumbnailsFail(`s3://${s3.bucket}/partial`, s3.options()) } });
  });
  after(async () => {
    await ctx?.close();
    await s3?.close();
  });

  it('deletes the PNG the job had stored and refunds the job', async () => {
    const user = await ctx.user('partial@example.com', 5);
    const thread = await newThread(ctx, user.token);
    const { response } = await generate(ctx, user.token, thread, { images: 2 });
    assert.match(response.error, /could not be stored/);
    assert.equal(await credits(ctx, user.token), 5);
    assert.deepEqual(await listKeys(bucket, 'partial'), []);
  });
});

describe('start-up check of the storage', () => {
  let s3: TestS3Server;
  before(async () => {
    s3 = await startS3Server();
  });
  after(() => s3?.close());

  const baseEnv = { SDAPI_MODEL_DIR: TEST_MODEL_DIR, SDAPI_DATABASE_URL: 'sqlite::memory:', SDAPI_WORKERS: '0', PORT: '0', LOG_LEVEL: 'silent' };

  it('a missing bucket or an unreachable endpoint is one StartupError naming the storage and why', async () => {
    const secret = 'a-secret-that-must-not-show';
    const wrongBucket = loadConfig({ ...baseEnv, ...s3Env(s3, 'x', { SDAPI_STORAGE_URL: 's3://no-such-bucket/x', AWS_SECRET_ACCESS_KEY: secret }) });
    await assert.rejects(openRuntime(wrongBucket, {}, { runsModels: false }), (err: unknown) => {
      assert.ok(err instanceof StartupError);
      assert.deepEqual(err.problems, [
        `The image storage s3://no-such-bucket/x at ${s3.endpoint} (SDAPI_STORAGE_URL) cannot be used: could not write a test object: no such bucket (NoSuchBucket) (HTTP 404)`,
      ]);
      assert.ok(!err.message.includes(secret));
      return true;
    });

    await s3.stop();
    try {
      const down = loadConfig({ ...baseEnv, ...s3Env(s3, 'x') });
      await assert.rejects(openRuntime(down, {}, { runsModels: false }), (err: unknown) => {
        assert.ok(err instanceof StartupError);
        assert.match(err.problems[0], /^The image storage s3:\/\/sdapi-test\/x at http:\/\/127\.0\.0\.1:\d+ \(SDAPI_STORAGE_URL\) cannot be used: could not write a test object: connection refused \(ECONNREFUSED\)$/);
        return true;
      });
    } finally {
      await s3.start();
    }

    // A working bucket passes, and the check object is deleted again.
    const runtime = await openRuntime(loadConfig({ ...baseEnv, ...s3Env(s3, 'ok') }), {}, { runsModels: false });
    await runtime.close();
    assert.deepEqual(await listKeys(s3.storage(), 'ok'), []);
  });

  it('sdapi serve and sdapi worker stop with one line and exit code 2, no stack trace and no secret', async () => {
    const secret = 'another-secret-value';
    for (const command of ['serve', 'worker']) {
      const out: string[] = [];
      const err: string[] = [];
      const io = { out: (line: string) => void out.push(line), err: (line: string) => void err.push(line), errStream: { write: () => true } };
      const env = { ...baseEnv, ...s3Env(s3, 'x', { SDAPI_STORAGE_URL: 's3://missing-bucket', AWS_SECRET_ACCESS_KEY: secret }), SDAPI_ENV_FILE: 'none' };
      const code = await main([command, '--lazy'], { env, io });
      assert.equal(code, 2, err.join('\n'));
      const problems = err.filter((line) => !line.startsWith('sdapi: '));
      assert.deepEqual(problems, [
        `sdapi ${command}: The image storage s3://missing-bucket at ${s3.endpoint} (SDAPI_STORAGE_URL) cannot be used: could not write a test object: no such bucket (NoSuchBucket) (HTTP 404)`,
      ]);
      assert.ok(!err.join('\n').includes(secret) && !err.join('\n').includes('    at '), err.join('\n'));
      assert.deepEqual(out, []);
    }
  });

  it('a folder that cannot be written stops start-up too', async () => {
    // Below a plain file: no user (root included) can create the folder.
    const dir = await mkdtemp(join(tmpdir(), 'sdapi-storage-check-'));
    try {
      await writeFile(join(dir, 'a-file'), 'x');
      const folder = join(dir, 'a-file', 'storage');
      const config = loadConfig({ ...baseEnv, SDAPI_STORAGE_URL: folder });
      await assert.rejects(openRuntime(config, {}, { runsModels: false }), (err: unknown) => {
        assert.ok(err instanceof StartupError);
        assert.equal(err.problems[0], `The image storage ${folder} (SDAPI_STORAGE_URL) cannot be used: the folder ${folder} cannot be written (ENOTDIR)`);
        return true;
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
