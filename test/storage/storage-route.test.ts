/**
 * GET /storage/* over Fastify inject(), the same cases for LocalFileStorage and for S3FileStorage (s3rver):
 * full body, ranges (206/416), conditional requests (304), 404s, HEAD; then S3 only: presigned redirects and a backend outage (503).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { parseRange, storageRoutes } from '../../src/api/routes/storage.routes.ts';
import type { FileStorage } from '../../src/storage/file-storage.ts';
import { LocalFileStorage } from '../../src/storage/local-storage.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';

const KEY = 'stablediffusion_text2img/2212c664-7d5b-4fe5-b240-1f5e46e2e70e.png';
const THUMB = `${KEY}.thumbnail.jpg`;
const IMMUTABLE = 'private, max-age=31536000, immutable';

interface Harness {
  app: FastifyInstance;
  logs: string[];
}

async function appFor(storage: FileStorage): Promise<Harness> {
  const logs: string[] = [];
  const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => void logs.push(line) } } });
  await app.register(storageRoutes({ storage }));
  await app.ready();
  return { app, logs };
}

function routeCases(name: string, setup: () => Promise<{ storage: FileStorage; cleanup: () => Promise<void> }>): void {
  describe(`GET /storage/* with ${name}`, () => {
    const png = randomBytes(200_000);
    let h: Harness;
    let cleanup: () => Promise<void>;
    before(async () => {
      const made = await setup();
      cleanup = made.cleanup;
      await made.storage.put(KEY, png, { contentType: 'image/png' });
      await made.storage.put(THUMB, Buffer.from('thumbnail'), { contentType: 'image/jpeg' });
      h = await appFor(made.storage);
    });
    after(async () => {
      await h.app.close();
      await cleanup();
    });

    it('serves the whole file with its type, validators and cache headers', async () => {
      const res = await h.app.inject({ method: 'GET', url: `/storage/${KEY}` });
      assert.equal(res.statusCode, 200);
      assert.ok(res.rawPayload.equals(png));
      assert.equal(res.headers['content-type'], 'image/png');
      assert.equal(res.headers['content-length'], String(png.length));
      assert.equal(res.headers['cache-control'], IMMUTABLE);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.equal(res.headers['accept-ranges'], 'bytes');
      assert.match(String(res.headers.etag), /^"[0-9a-f-]+"$/);
      assert.ok(Number.isFinite(Date.parse(String(res.headers['last-modified']))));
      const thumb = await h.app.inject({ method: 'GET', url: `/storage/${THUMB}` });
      assert.equal(thumb.statusCode, 200);
      assert.equal(thumb.headers['content-type'], 'image/jpeg');
      assert.equal(thumb.body, 'thumbnail');
    });

    it('HEAD answers the headers and the length without a body', async () => {
      const res = await h.app.inject({ method: 'HEAD', url: `/storage/${KEY}` });
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['content-length'], String(png.length));
      assert.equal(res.headers['content-type'], 'image/png');
      assert.equal(res.rawPayload.length, 0);
    });

    it('answers single ranges with 206 and Content-Range', async () => {
      const cases: [string, number, number][] = [
        ['bytes=0-99', 0, 99],
        ['bytes=1000-1999', 1000, 1999],
        ['bytes=150000-', 150_000, png.length - 1],
        ['bytes=-500', png.length - 500, png.length - 1],
        ['bytes=199990-999999', 199_990, png.length - 1],
        ['bytes=-999999', 0, png.length - 1],
        ['bytes=5-5', 5, 5],
      ];
      for (const [range, start, end] of cases) {
        const res = await h.app.inject({ method: 'GET', url: `/storage/${KEY}`, headers: { range } });
        assert.equal(res.statusCode, 206, range);
        assert.equal(res.headers['content-range'], `bytes ${start}-${end}/${png.length}`, range);
        assert.equal(res.headers['content-length'], String(end - start + 1), range);
        assert.equal(res.headers['content-type'], 'image/png', range);
        assert.ok(res.rawPayload.equals(png.subarray(start, end + 1)), range);
      }
    });

    it('answers unsatisfiable ranges with 416 and ignores malformed or multiple ones', async () => {
      for (const range of [`bytes=${png.length}-`, `bytes=${png.length + 10}-${png.length + 20}`, 'bytes=-0']) {
        const res = await h.app.inject({ method: 'GET', url: `/storage/${KEY}`, headers: { range } });
        assert.equal(res.statusCode, 416, range);
        assert.equal(res.headers['content-range'], `bytes */${png.length}`, range);
        assert.equal(typeof res.json().message, 'string', range);
      }
      for (const range of ['bytes=0-1,5-6', 'bytes=9-3', 'items=0-1', 'bytes=abc', 'bytes=-']) {
        const res = await h.app.inject({ method: 'GET', url: `/storage/${KEY}`, headers: { range } });
        assert.equal(res.statusCode, 200, range);
        assert.equal(res.rawPayload.length, png.length, range);
      }
    });

    it('If-Range: the range applies only to the same representation', async () => {
      const etag = String((await h.app.inject({ method: 'HEAD', url: `/storage/${KEY}` })).headers.etag);
      const same = await h.app.inject({ method: 'GET', url: `/storage/${KEY}`, headers: { range: 'bytes=0-9', 'if-range': etag } });
      assert.equal(same.statusCode, 206);
      const other = await h.app.inject({ method: 'GET', url: `/storage/${KEY}`, headers: { range: 'bytes=0-9', 'if-range': '"other"' } });
      assert.equal(other.statusCode, 200);
      assert.equal(other.rawPayload.length, png.length);
    });

    it('answers conditional requests with 304', async () => {
      const first = await h.app.inject({ method: 'GET', url: `/storage/${KEY}` });
      const etag = String(first.headers.etag);
      for (const inm of [etag, `W/${etag}`, `"nope", ${etag}`, '*']) {
        const res = await h.app.inject({ method: 'GET', url: `/storage/${KEY}`, headers: { 'if-none-match': inm } });
        assert.equal(res.statusCode, 304, inm);
        assert.equal(res.rawPayload.length, 0, inm);
        assert.equal(res.headers.etag, etag, inm);
        assert.equal(res.headers['cache-control'], IMMUTABLE, inm);
      }
      const changed = await h.app.inject({ method: 'GET', url: `/storage/${KEY}`, headers: { 'if-none-match': '"something-else"' } });
      assert.equal(changed.statusCode, 200);
      const lastModified = String(first.headers['last-modified']);
      assert.equal((await h.app.inject({ method: 'GET', url: `/storage/${KEY}`, headers: { 'if-modified-since': lastModified } })).statusCode, 304);
      const earlier = new Date(Date.parse(lastModified) - 1000).toUTCString();
      assert.equal((await h.app.inject({ method: 'GET', url: `/storage/${KEY}`, headers: { 'if-modified-since': earlier } })).statusCode, 200);
    });

    it('answers 404 JSON for missing objects and for invalid keys or types, never a 5xx', async () => {
      for (const url of [
        '/storage/stablediffusion_text2img/00000000-0000-0000-0000-000000000000.png',
        '/storage/stablediffusion_text2img/missing.png.thumbnail.jpg',
        '/storage/a//b.png',
        '/storage/a/.hidden.png',
        '/storage/a/..%2f..%2fsecret.png',
        '/storage/%2fetc%2fpasswd.png',
        '/storage/a%00.png',
        `/storage/${KEY}%00.png`,
        `/storage/${KEY.replace('.png', '.txt')}`,
        `/storage/${'a/'.repeat(10)}x.png`,
        '/storage/',
      ]) {
        const res = await h.app.inject({ method: 'GET', url });
        assert.equal(res.statusCode, 404, url);
        assert.deepEqual(res.json(), { message: 'File not found.', code: 'not_found' }, url);
        assert.equal(res.headers['cache-control'], undefined, url);
      }
      // Dot segments are resolved before routing, so these never reach the route: still a 404, not a file.
      for (const url of ['/storage/../secret.png', '/storage/%2e%2e/secret.png', '/storage/a/%2e%2e/%2e%2e/secret.png']) {
        assert.equal((await h.app.inject({ method: 'GET', url })).statusCode, 404, url);
      }
      assert.deepEqual(h.logs, [], 'nothing logged at warn or above');
    });
  });
}

routeCases('LocalFileStorage', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sdapi-route-'));
  return { storage: new LocalFileStorage(join(dir, 'storage')), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

routeCases('S3FileStorage (s3rver)', async () => {
  const s3 = await startS3Server();
  return { storage: s3.storage('images'), cleanup: () => s3.close() };
});

describe('GET /storage/* with S3 only', () => {
  let s3: TestS3Server;
  const png = randomBytes(50_000);
  before(async () => {
    s3 = await startS3Server();
    await s3.storage('images').put(KEY, png);
  });
  after(() => s3.close());

  it('with presign, answers 302 to a short-lived URL that serves the bytes; missing objects are still 404', async () => {
    const { app } = await appFor(s3.storage('images', { presign: true }));
    try {
      const res = await app.inject({ method: 'GET', url: `/storage/${KEY}` });
      assert.equal(res.statusCode, 302);
      const location = new URL(String(res.headers.location));
      assert.equal(location.origin, s3.endpoint);
      assert.equal(location.pathname, `/${s3.bucket}/images/${KEY}`);
      assert.equal(location.searchParams.get('X-Amz-Expires'), '300');
      assert.ok(location.searchParams.get('X-Amz-Signature'));
      assert.equal(res.headers['cache-control'], 'private, max-age=150');
      assert.equal(res.headers.etag, undefined, 'a cached redirect must not be revalidated into a stale URL');
      const fetched = await fetch(location);
      assert.equal(fetched.status, 200);
      assert.equal(fetched.headers.get('content-type'), 'image/png');
      assert.equal(fetched.headers.get('cache-control'), IMMUTABLE);
      assert.ok(Buffer.from(await fetched.arrayBuffer()).equals(png));
      const ranged = await fetch(location, { headers: { range: 'bytes=10-19' } });
      assert.equal(ranged.status, 206);
      assert.ok(Buffer.from(await ranged.arrayBuffer()).equals(png.subarray(10, 20)));
      assert.equal((await app.inject({ method: 'GET', url: '/storage/stablediffusion_text2img/missing.png' })).statusCode, 404);
      assert.equal((await app.inject({ method: 'GET', url: '/storage/../x.png' })).statusCode, 404);
    } finally {
      await app.close();
    }
    const { app: short } = await appFor(s3.storage('images', { presign: 60 }));
    try {
      const res = await short.inject({ method: 'GET', url: `/storage/${KEY}` });
      assert.equal(new URL(String(res.headers.location)).searchParams.get('X-Amz-Expires'), '60');
      assert.equal(res.headers['cache-control'], 'private, max-age=30');
    } finally {
      await short.close();
    }
  });

  it('a stopped server: put rejects, the route answers 503 without internals and logs it; after restart all works', async () => {
    const storage = s3.storage('images');
    const { app, logs } = await appFor(storage);
    try {
      assert.equal((await app.inject({ method: 'GET', url: `/storage/${KEY}` })).statusCode, 200);
      await s3.stop();
      try {
        await assert.rejects(storage.put(`${KEY}.thumbnail.jpg`, Buffer.from('t')), {
          name: 'StorageUnavailableError',
          message: `S3 storage could not store "${KEY}.thumbnail.jpg": connection refused (ECONNREFUSED)`,
        });
        for (const headers of [{}, { range: 'bytes=0-9' }, { 'if-none-match': '*' }]) {
          for (const method of ['GET', 'HEAD'] as const) {
            const res = await app.inject({ method, url: `/storage/${KEY}`, headers });
            assert.equal(res.statusCode, 503, `${method} ${JSON.stringify(headers)}`);
            assert.equal(res.headers['cache-control'], 'no-store');
            assert.equal(res.headers.etag, undefined);
            if (method === 'GET') {
              assert.deepEqual(res.json(), { message: 'Image storage is unavailable at the moment; try again shortly.', code: 'storage_unavailable' });
              assert.doesNotMatch(res.body, new RegExp(`${s3.bucket}|127\\.0\\.0\\.1|${s3.port}|ECONN|S3|aws|images/`, 'i'));
            }
          }
        }
        const errors = logs.map((l) => JSON.parse(l) as { level: number; msg: string; key?: string; err?: { message?: string } }).filter((l) => l.level >= 50);
        assert.equal(errors.length, 6);
        assert.equal(errors[0].msg, 'image storage failed');
        assert.equal(errors[0].key, KEY);
        assert.match(String(errors[0].err?.message), /connection refused \(ECONNREFUSED\)/);
      } finally {
        await s3.start();
      }
      const res = await app.inject({ method: 'GET', url: `/storage/${KEY}` });
      assert.equal(res.statusCode, 200);
      assert.ok(res.rawPayload.equals(png));
      await storage.put(`${KEY}.thumbnail.jpg`, Buffer.from('t'));
      assert.equal((await app.inject({ method: 'GET', url: `/storage/${KEY}.thumbnail.jpg` })).body, 't');
    } finally {
      await app.close();
    }
  });
});

describe('GET /storage/* when the storage fails after the lookup', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sdapi-route-fail-'));
    await new LocalFileStorage(dir).put(KEY, Buffer.from('png'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('a failing object stream is a 503 without internals or validators', async () => {
    class FailingStream extends LocalFileStorage {
      override openReadStream(): Promise<undefined> {
        return Promise.reject(new Error('socket hang up from s3.internal:9000'));
      }
    }
    const { app, logs } = await appFor(new FailingStream(dir));
    try {
      const res = await app.inject({ method: 'GET', url: `/storage/${KEY}` });
      assert.equal(res.statusCode, 503);
      assert.doesNotMatch(res.body, /internal|9000|hang/);
      assert.equal(res.headers.etag, undefined);
      assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
      assert.equal(logs.length, 1);
    } finally {
      await app.close();
    }
  });

  it('a failing presigner is a 503; a storage that does not presign streams', async () => {
    class PresignFails extends LocalFileStorage {
      redirectUrl(): Promise<undefined> {
        return Promise.reject(new Error('no credentials for bucket secret-bucket'));
      }
    }
    class NoPresign extends LocalFileStorage {
      redirectUrl(): Promise<undefined> {
        return Promise.resolve(undefined);
      }
    }
    const { app } = await appFor(new PresignFails(dir));
    const { app: plain } = await appFor(new NoPresign(dir));
    try {
      const res = await app.inject({ method: 'GET', url: `/storage/${KEY}` });
      assert.equal(res.statusCode, 503);
      assert.doesNotMatch(res.body, /secret-bucket|credentials/);
      assert.equal((await plain.inject({ method: 'GET', url: `/storage/${KEY}` })).body, 'png');
    } finally {
      await app.close();
      await plain.close();
    }
  });
});

describe('parseRange', () => {
  it('parses one range against the size', () => {
    assert.deepEqual(parseRange('bytes=0-0', 10), { start: 0, end: 0 });
    assert.deepEqual(parseRange('bytes=3-', 10), { start: 3, end: 9 });
    assert.deepEqual(parseRange('bytes=-3', 10), { start: 7, end: 9 });
    assert.deepEqual(parseRange('BYTES=2-4', 10), { start: 2, end: 4 });
    assert.deepEqual(parseRange('bytes=8-100', 10), { start: 8, end: 9 });
    assert.equal(parseRange('bytes=10-', 10), 'unsatisfiable');
    assert.equal(parseRange('bytes=0-', 0), 'unsatisfiable');
    assert.equal(parseRange('bytes=-1', 0), 'unsatisfiable');
    assert.equal(parseRange('bytes=99999999999999999999-', 10), 'unsatisfiable');
    assert.equal(parseRange(undefined, 10), undefined);
    assert.equal(parseRange('bytes=4-3', 10), undefined);
    assert.equal(parseRange('bytes=1-2,4-5', 10), undefined);
    assert.equal(parseRange('bytes=-', 10), undefined);
    assert.equal(parseRange('bytes=1.5-2', 10), undefined);
  });
});
