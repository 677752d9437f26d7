/** createFileStorage(): a path or file: URL gives LocalFileStorage, s3:// gives S3FileStorage; bad values fail with one error naming them. */
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { StorageConfigError } from '../../src/storage/file-storage.ts';
import { createFileStorage } from '../../src/storage/factory.ts';
import { LocalFileStorage } from '../../src/storage/local-storage.ts';
import { parseS3Url, S3FileStorage } from '../../src/storage/s3-storage.ts';

describe('createFileStorage', () => {
  it('picks local storage for paths and file: URLs', () => {
    const abs = createFileStorage({ url: '/var/lib/sdapi/storage' });
    assert.ok(abs instanceof LocalFileStorage);
    assert.equal(abs.root, '/var/lib/sdapi/storage');
    const rel = createFileStorage({ url: './data/storage', baseDir: '/srv/app' });
    assert.ok(rel instanceof LocalFileStorage);
    assert.equal(rel.root, '/srv/app/data/storage');
    const plain = createFileStorage({ url: 'data' });
    assert.ok(plain instanceof LocalFileStorage);
    assert.equal(plain.root, resolve('data'));
    const url = createFileStorage({ url: pathToFileURL('/tmp/sdapi images').href });
    assert.ok(url instanceof LocalFileStorage);
    assert.equal(url.root, join('/tmp', 'sdapi images'));
  });

  it('picks S3 for s3:// URLs, with the bucket and the prefix', async () => {
    const s3 = createFileStorage({ url: 's3://my-bucket/sdapi/images/', s3: { endpoint: 'http://127.0.0.1:9000', forcePathStyle: true, presign: 120 } });
    assert.ok(s3 instanceof S3FileStorage);
    assert.equal(s3.bucket, 'my-bucket');
    assert.equal(s3.prefix, 'sdapi/images');
    assert.equal(s3.presignSeconds, 120);
    assert.equal(s3.objectKey('v1/a.png'), 'sdapi/images/v1/a.png');
    const root = createFileStorage({ url: 's3://my.bucket-2' });
    assert.ok(root instanceof S3FileStorage);
    assert.equal(root.prefix, '');
    assert.equal(root.objectKey('v1/a.png'), 'v1/a.png');
    assert.equal(root.presignSeconds, undefined);
    assert.equal(await root.redirectUrl('v1/a.png'), undefined);
    assert.equal((createFileStorage({ url: 's3://b12/x', s3: { presign: true } }) as S3FileStorage).presignSeconds, 300);
    assert.deepEqual(parseS3Url('s3://bucket//a//'), { bucket: 'bucket', prefix: 'a' });
  });

  it('rejects bad values with one StorageConfigError that names the value', () => {
    const bad: [string, RegExp][] = [
      ['', /it is empty/],
      ['   ', /it is empty/],
      ['http://example.com/images', /unsupported scheme "http:"/],
      ['ftp://x/y', /unsupported scheme "ftp:"/],
      ['gs://bucket/x', /unsupported scheme "gs:"/],
      ['S3://bucket/x', /write the scheme as s3:\/\//],
      ['s3:bucket/x', /write the scheme as s3:\/\//],
      ['s3://', /bucket name is missing/],
      ['s3:///prefix', /bucket name is missing/],
      ['s3://My_Bucket/x', /"My_Bucket" is not a valid bucket name/],
      ['s3://ab', /"ab" is not a valid bucket name/],
      ['s3://192.168.1.1/x', /not a valid bucket name/],
      ['s3://a..b/x', /not a valid bucket name/],
      ['s3://bucket/../x', /not a valid key prefix/],
      ['s3://bucket/a b', /not a valid key prefix/],
      ['s3://bucket/x?versionId=1', /a query or a fragment/],
      ['s3://key:secret@bucket/x', /credentials or a port/],
      ['s3://bucket:9000/x', /credentials or a port/],
      ['s3://bucket/%2e%2e/x', /not a valid key prefix/],
      ['s3://bucket/./x', /not a valid key prefix/],
      ['file://remote-host/x', /not a local file: URL/],
      ['/data/\nstorage', /control characters/],
    ];
    for (const [url, why] of bad) {
      assert.throws(
        () => createFileStorage({ url }),
        // A user or password before `@` is masked: error lines end up in logs.
        (err: unknown) => err instanceof StorageConfigError && err.message.includes(`Invalid storage URL "${url.replace('key:secret@', '***@')}"`) && why.test(err.message),
        url,
      );
    }
  });

  it('rejects bad S3 options, naming them', () => {
    const cases: [Parameters<typeof createFileStorage>[0]['s3'], RegExp][] = [
      [{ endpoint: 'localhost:9000' }, /Invalid S3 endpoint "localhost:9000"/],
      [{ endpoint: 'ftp://x' }, /Invalid S3 endpoint "ftp:\/\/x"/],
      [{ endpoint: 'http://user:pw@x' }, /Invalid S3 endpoint "http:\/\/\*\*\*@x"/],
      [{ region: 'eu west' }, /Invalid S3 region "eu west"/],
      [{ presign: 0 }, /Invalid S3 presign lifetime "0"/],
      [{ presign: 604_801 }, /Invalid S3 presign lifetime "604801"/],
      [{ presign: 1.5 }, /Invalid S3 presign lifetime "1.5"/],
    ];
    for (const [s3, why] of cases) {
      assert.throws(() => createFileStorage({ url: 's3://bucket/x', s3 }), (err: unknown) => err instanceof StorageConfigError && why.test(err.message), JSON.stringify(s3));
    }
    // S3 options do not matter for local storage.
    assert.ok(createFileStorage({ url: '/tmp/x', s3: { endpoint: 'nope' } }) instanceof LocalFileStorage);
  });
});
