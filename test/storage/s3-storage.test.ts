/** S3FileStorage against a local S3 protocol server (s3rver on 127.0.0.1, random port, temp directory). */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { StorageUnavailableError } from '../../src/storage/file-storage.ts';
import { S3FileStorage } from '../../src/storage/s3-storage.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';

async function collect(stream: AsyncIterable<Buffer | string>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  return Buffer.concat(chunks);
}

/** Counts the SDK commands a storage sends, by name. */
async function countCommands(storage: S3FileStorage): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  (await storage.client()).middlewareStack.add(
    (next, context) => async (args) => {
      const name = String(context.commandName);
      counts.set(name, (counts.get(name) ?? 0) + 1);
      return next(args);
    },
    { step: 'initialize', name: 'countCommands' },
  );
  return counts;
}

describe('S3FileStorage (s3rver)', () => {
  let s3: TestS3Server;
  let storage: S3FileStorage;
  const png = randomBytes(300_000);

  before(async () => {
    s3 = await startS3Server();
    storage = s3.storage('tenant-a/images');
  });
  after(() => s3.close());

  it('put() stores the object under the prefix with its content type and cache headers; stat/read round-trip', async () => {
    await storage.put('v1/a.png', png);
    await storage.put('v1/a.png.thumbnail.jpg', Buffer.from('jpeg bytes'));
    await storage.put('v1/raw.png', Buffer.from('x'), { contentType: 'application/x-test', cacheControl: 'no-cache' });
    const client = await storage.client();
    const head = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: 'tenant-a/images/v1/a.png' }));
    assert.equal(head.ContentType, 'image/png');
    assert.equal(head.CacheControl, 'private, max-age=31536000, immutable');
    assert.equal(head.ContentLength, png.length);
    const thumb = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: 'tenant-a/images/v1/a.png.thumbnail.jpg' }));
    assert.equal(thumb.ContentType, 'image/jpeg');
    const raw = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: 'tenant-a/images/v1/raw.png' }));
    assert.equal(raw.ContentType, 'application/x-test');
    assert.equal(raw.CacheControl, 'no-cache');

    const info = await storage.stat('v1/a.png');
    assert.ok(info);
    assert.equal(info.size, png.length);
    assert.ok(info.modifiedAt instanceof Date && Math.abs(info.modifiedAt.getTime() - Date.now()) < 60_000);
    assert.match(String(info.etag), /^"[0-9a-f]{32}"$/);
    assert.ok((await storage.read('v1/a.png')).equals(png));
    assert.equal(await storage.stat('v1/missing.png'), undefined);
    await assert.rejects(storage.read('v1/missing.png'), /No stored file "v1\/missing.png"/);
  });

  it('put() replaces an object whole', async () => {
    await storage.put('v1/b.png', Buffer.from('first version'));
    await storage.put('v1/b.png', Buffer.from('second'));
    assert.equal((await storage.read('v1/b.png')).toString(), 'second');
    assert.equal((await storage.stat('v1/b.png'))?.size, 6);
  });

  it('streams the whole object or an inclusive byte range', async () => {
    const whole = await storage.openReadStream('v1/a.png');
    assert.ok(whole);
    assert.ok((await collect(whole)).equals(png));
    const part = await storage.openReadStream('v1/a.png', { start: 1000, end: 70_999 });
    assert.ok(part);
    assert.ok((await collect(part)).equals(png.subarray(1000, 71_000)));
    const last = await storage.openReadStream('v1/a.png', { start: png.length - 1, end: png.length - 1 });
    assert.ok(last);
    assert.deepEqual([...(await collect(last))], [png[png.length - 1]]);
    assert.equal(await storage.openReadStream('v1/missing.png'), undefined);
    assert.equal(await storage.openReadStream('../escape.png'), undefined);
    // The lazy stream: data, or the failure as an 'error'.
    assert.ok((await collect(storage.createReadStream('v1/a.png', { start: 5, end: 9 }))).equals(png.subarray(5, 10)));
    await assert.rejects(collect(storage.createReadStream('v1/missing.png')), { code: 'ENOENT' });
  });

  it('delete() removes one object; a missing one is not an error', async () => {
    await storage.put('v1/c.png', Buffer.from('c'));
    await storage.delete('v1/c.png');
    assert.equal(await storage.stat('v1/c.png'), undefined);
    await storage.delete('v1/c.png');
  });

  it('deleteMany() deletes in DeleteObjects batches of at most 1000 keys, ignoring missing keys', async () => {
    const keys = Array.from({ length: 1500 }, (_, i) => `v2/${String(i).padStart(4, '0')}.png`);
    const present = [keys[0], keys[999], keys[1000], keys[1499]];
    await Promise.all(present.map((k) => storage.put(k, Buffer.from(k))));
    await storage.put('v2/keep.png', Buffer.from('keep'));
    const counted = s3.storage('tenant-a/images');
    const counts = await countCommands(counted);
    await counted.deleteMany([...keys, keys[0]]);
    assert.equal(counts.get('DeleteObjectsCommand'), 2, 'two batches: 1000 + 500');
    assert.equal(counts.get('DeleteObjectCommand'), undefined);
    for (const k of present) assert.equal(await storage.stat(k), undefined, k);
    assert.equal((await storage.read('v2/keep.png')).toString(), 'keep');
    await counted.deleteMany([]);
    assert.equal(counts.get('DeleteObjectsCommand'), 2, 'nothing to delete: no call');
  });

  it('deleteMany() rejects invalid keys before deleting anything', async () => {
    await storage.put('v3/a.png', Buffer.from('a'));
    await assert.rejects(storage.deleteMany(['v3/a.png', '../outside.png']), /not a valid key/);
    assert.equal((await storage.stat('v3/a.png'))?.size, 1);
  });

  it('invalid keys are refused for writes and unknown for reads', async () => {
    for (const key of ['../x.png', '/abs.png', 'a//b.png', 'a/.hidden', '', 'a\\b.png']) {
      await assert.rejects(storage.put(key, Buffer.from('x')), /not a valid key/, key);
      assert.equal(await storage.stat(key), undefined, key);
      assert.throws(() => storage.createReadStream(key), /not a valid key/, key);
    }
  });

  it('keeps prefixes apart: the same key under another prefix is another object', async () => {
    const other = s3.storage('tenant-b');
    assert.equal(await other.stat('v1/a.png'), undefined);
    await other.put('v1/a.png', Buffer.from('b'));
    assert.equal((await other.read('v1/a.png')).toString(), 'b');
    assert.equal((await storage.stat('v1/a.png'))?.size, png.length);
    const root = s3.storage('');
    assert.equal((await root.read('tenant-b/v1/a.png')).toString(), 'b');
  });

  it('presignGet() gives a URL that serves the bytes without credentials, and honours its lifetime setting', async () => {
    const url = new URL(await storage.presignGet('v1/a.png', 120));
    assert.equal(url.searchParams.get('X-Amz-Expires'), '120');
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(png));
    assert.equal(await storage.redirectUrl('v1/a.png'), undefined, 'presign is off unless asked for');
    const presigning = s3.storage('tenant-a/images', { presign: true });
    const target = await presigning.redirectUrl('v1/a.png');
    assert.ok(target);
    assert.equal(target.expiresInSeconds, 300);
    assert.equal(new URL(target.url).searchParams.get('X-Amz-Expires'), '300');
    assert.equal(new URL(target.url).searchParams.get('X-Amz-SignedHeaders'), 'host');
    assert.match(String(new URL(target.url).searchParams.get('X-Amz-Credential')), /^S3RVER\/\d{8}\/us-east-1\/s3\/aws4_request$/);
    // s3rver checks the access key and the lifetime of a V4 URL (not the signature itself): one signed 10 minutes ago for 5 is refused.
    const stale = await getSignedUrl(await storage.client(), new GetObjectCommand({ Bucket: s3.bucket, Key: 'tenant-a/images/v1/a.png' }), {
      expiresIn: 300,
      signingDate: new Date(Date.now() - 600_000),
    });
    assert.equal((await fetch(stale)).status, 403, 'an expired URL is refused');
  });

  it('backend errors reject with StorageUnavailableError naming the key and the S3 code, not the bucket', async () => {
    const wrongKey = s3.storage('tenant-a/images', { credentials: { accessKeyId: 'NOT-A-KEY', secretAccessKey: 'wrong' } });
    const err = await wrongKey.stat('v1/a.png').then(
      () => assert.fail('stat with an unknown access key resolved'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof StorageUnavailableError);
    assert.equal(err.message, 'S3 storage could not look up "v1/a.png": access denied (HTTP 403)');
    assert.doesNotMatch(err.message, new RegExp(`${s3.bucket}|127\\.0\\.0\\.1|${s3.port}`));
    assert.ok(err.cause, 'the SDK error is kept as the cause, for the logs');

    const noBucket = new S3FileStorage('s3://no-such-bucket/x', s3.options());
    await assert.rejects(noBucket.put('v1/a.png', Buffer.from('x')), (e: unknown) => e instanceof StorageUnavailableError && /no such bucket \(NoSuchBucket\)/.test(e.message));
    await assert.rejects(noBucket.deleteMany(['v1/a.png']), StorageUnavailableError);
    await noBucket.close();
  });

  it('a stopped server: put rejects with a clear error, reads reject (not "missing"); all works again once it is back', async () => {
    await s3.stop();
    try {
      const err = await storage.put('v4/a.png', Buffer.from('x')).then(
        () => assert.fail('put resolved while the server was down'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof StorageUnavailableError);
      assert.equal(err.message, 'S3 storage could not store "v4/a.png": connection refused (ECONNREFUSED)');
      await assert.rejects(storage.stat('v1/a.png'), StorageUnavailableError);
      await assert.rejects(storage.openReadStream('v1/a.png'), StorageUnavailableError);
      await assert.rejects(storage.deleteMany(['v1/b.png']), /could not delete objects \(keys 1–1 of 1, 0 deleted before\): connection refused/);
    } finally {
      await s3.start();
    }
    await storage.put('v4/a.png', Buffer.from('back'));
    assert.equal((await storage.read('v4/a.png')).toString(), 'back');
    assert.equal((await storage.stat('v1/a.png'))?.size, png.length, 'data written before the outage is still there');
  });
});
