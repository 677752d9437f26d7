/**
 * The storage settings: SDAPI_STORAGE_URL, SDAPI_S3_* and the AWS variables, parsed once by loadConfig() and turned
 * into a FileStorage by the composition root. Secrets are never repeated in errors and are masked when a Config is
 * serialised or inspected (what a logger would do).
 */
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createStorage, describeStorage } from '../../src/composition/runtime.ts';
import { ConfigError } from '../../src/config/config-error.ts';
import { EnvSchema } from '../../src/config/env-schema.ts';
import { loadConfig, projectRoot } from '../../src/config/load-config.ts';
import { LocalFileStorage } from '../../src/storage/local-storage.ts';
import { S3FileStorage } from '../../src/storage/s3-storage.ts';

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const TOKEN = 'FwoGZXIvYXdzEXAMPLESESSIONTOKEN';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  assert.fail(`no ConfigError for ${JSON.stringify(Object.keys(env))}`);
}

describe('storage settings', () => {
  it('defaults to the data directory’s storage folder, with no S3 settings', () => {
    const config = loadConfig({ SDAPI_DATA_DIR: '/srv/sdapi' });
    assert.deepEqual(config.storage, { url: '/srv/sdapi/storage', configured: false, s3: { forcePathStyle: false, presign: false } });
    const storage = createStorage(config);
    assert.ok(storage instanceof LocalFileStorage);
    assert.equal(storage.root, '/srv/sdapi/storage');
    assert.equal(describeStorage(config), '/srv/sdapi/storage');
  });

  it('reads an s3:// URL with every S3 variable and builds an S3FileStorage from them', () => {
    const config = loadConfig({
      SDAPI_STORAGE_URL: 's3://sdapi-images/prod',
      SDAPI_S3_ENDPOINT: 'http://minio.internal:9000',
      SDAPI_S3_REGION: 'eu-central-1',
      SDAPI_S3_FORCE_PATH_STYLE: 'true',
      SDAPI_S3_PRESIGN: '600',
      AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
      AWS_SECRET_ACCESS_KEY: SECRET,
      AWS_SESSION_TOKEN: TOKEN,
      AWS_REQUEST_CHECKSUM_CALCULATION: 'when_required',
      AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_SUPPORTED',
    });
    const { s3 } = config.storage;
    assert.equal(config.storage.url, 's3://sdapi-images/prod');
    assert.equal(config.storage.configured, true);
    assert.equal(s3.endpoint, 'http://minio.internal:9000');
    assert.equal(s3.region, 'eu-central-1');
    assert.equal(s3.forcePathStyle, true);
    assert.equal(s3.presign, 600);
    assert.equal(s3.credentials?.accessKeyId, 'AKIAEXAMPLE');
    assert.equal(s3.credentials?.secretAccessKey, SECRET, 'the real secret reaches the SDK');
    assert.equal(s3.credentials?.sessionToken, TOKEN);
    assert.equal(s3.requestChecksumCalculation, 'WHEN_REQUIRED');
    assert.equal(s3.responseChecksumValidation, 'WHEN_SUPPORTED');

    const storage = createStorage(config);
    assert.ok(storage instanceof S3FileStorage);
    assert.equal(storage.bucket, 'sdapi-images');
    assert.equal(storage.prefix, 'prod');
    assert.equal(storage.presignSeconds, 600);
    assert.equal(describeStorage(config), 's3://sdapi-images/prod at http://minio.internal:9000');

    assert.equal(loadConfig({ SDAPI_STORAGE_URL: 's3://b-1', SDAPI_S3_PRESIGN: '1' }).storage.s3.presign, true, '1 is on, not one second');
    assert.equal(loadConfig({ SDAPI_STORAGE_URL: 's3://b-1', AWS_REGION: 'us-west-2' }).storage.s3.region, 'us-west-2', 'AWS_REGION is the fallback');
    assert.equal(loadConfig({ SDAPI_STORAGE_URL: 's3://b-1', AWS_REGION: 'us-west-2', SDAPI_S3_REGION: 'auto' }).storage.s3.region, 'auto');
    assert.equal(loadConfig({ SDAPI_STORAGE_URL: 's3://b-1', AWS_PROFILE: 'images' }).storage.s3.profile, 'images');
    assert.equal(loadConfig({ SDAPI_STORAGE_URL: 's3://b-1' }).storage.s3.credentials, undefined, 'no keys: the SDK’s provider chain');
  });

  it('a folder or file: URL is a local storage (relative paths from the working directory)', () => {
    assert.equal(loadConfig({ SDAPI_STORAGE_URL: 'images' }).storage.url, join(process.cwd(), 'images'), 'absolute, as logged');
    const relative = createStorage(loadConfig({ SDAPI_STORAGE_URL: 'images' }));
    assert.ok(relative instanceof LocalFileStorage);
    assert.equal(relative.root, join(process.cwd(), 'images'));
    const url = createStorage(loadConfig({ SDAPI_STORAGE_URL: 'file:///var/lib/sdapi/images' }));
    assert.ok(url instanceof LocalFileStorage);
    assert.equal(url.root, '/var/lib/sdapi/images');
  });

  it('never repeats a secret in an error, and masks credentials when the Config is logged or inspected', () => {
    const err = configError({ AWS_ACCESS_KEY_ID: 'AKIA EXAMPLE', AWS_SECRET_ACCESS_KEY: `${SECRET} with spaces`, AWS_SESSION_TOKEN: `${TOKEN}\n`, SDAPI_METRICS_TOKEN: 'short secret' });
    assert.deepEqual(err.problems.map((p) => p.split(' ')[0]).sort(), ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'SDAPI_METRICS_TOKEN']);
    assert.match(err.message, /AWS_SECRET_ACCESS_KEY must be printable characters without spaces, got a value that is not shown/);
    for (const secret of [SECRET, TOKEN, 'AKIA EXAMPLE', 'short secret']) assert.ok(!err.message.includes(secret), secret);

    const config = loadConfig({ SDAPI_STORAGE_URL: 's3://sdapi-images', AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: SECRET, AWS_SESSION_TOKEN: TOKEN });
    for (const shown of [JSON.stringify(config), inspect(config, { depth: 10 }), JSON.stringify({ storage: config.storage })]) {
      assert.ok(!shown.includes(SECRET) && !shown.includes(TOKEN), shown);
      assert.ok(shown.includes('AKIAEXAMPLE'), 'the key id is shown, to tell keys apart');
    }
  });

  it('refuses half-given credentials and S3 settings without an s3:// URL, naming the variables', () => {
    assert.deepEqual(configError({ SDAPI_STORAGE_URL: 's3://b-1', AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE' }).problems, ['AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together']);
    assert.deepEqual(configError({ SDAPI_STORAGE_URL: 's3://b-1', AWS_SESSION_TOKEN: TOKEN }).problems, ['AWS_SESSION_TOKEN needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY']);
    assert.deepEqual(configError({ SDAPI_S3_ENDPOINT: 'http://minio:9000', SDAPI_S3_FORCE_PATH_STYLE: '1' }).problems, [
      'SDAPI_S3_ENDPOINT, SDAPI_S3_FORCE_PATH_STYLE apply only to an s3:// SDAPI_STORAGE_URL, which is not set',
    ]);
    assert.deepEqual(configError({ SDAPI_STORAGE_URL: '/srv/images', SDAPI_S3_PRESIGN: '1' }).problems, ['SDAPI_S3_PRESIGN applies only to an s3:// SDAPI_STORAGE_URL, which is not set']);
    const bad = configError({
      SDAPI_S3_ENDPOINT: 'minio:9000',
      SDAPI_S3_REGION: 'eu central',
      SDAPI_S3_FORCE_PATH_STYLE: 'yes',
      SDAPI_S3_PRESIGN: '5m',
      AWS_REQUEST_CHECKSUM_CALCULATION: 'never',
    });
    assert.deepEqual(bad.problems.map((p) => p.split(' ')[0]).sort(), [
      'AWS_REQUEST_CHECKSUM_CALCULATION',
      'SDAPI_S3_ENDPOINT',
      'SDAPI_S3_FORCE_PATH_STYLE',
      'SDAPI_S3_PRESIGN',
      'SDAPI_S3_REGION',
    ]);
    const withKeys = configError({ SDAPI_S3_ENDPOINT: 'http://user:pw@minio:9000', SDAPI_STORAGE_URL: 's3://b-1' }).message;
    assert.match(withKeys, /SDAPI_S3_ENDPOINT must be an http:\/\/ or https:\/\/ URL without credentials, got "http:\/\/\*\*\*@minio:9000"/);
    assert.match(configError({ SDAPI_DATABASE_URL: 'mysql://root:hunter2@db/x' }).message, /got "mysql:\/\/\*\*\*@db\/x"/, 'any URL’s password is masked');
    assert.match(configError({ SDAPI_STORAGE_URL: 's3://b-1', SDAPI_S3_PRESIGN: '700000' }).message, /SDAPI_S3_PRESIGN must be .* from 1 to 604800, got "700000"/);
  });

  it('a storage URL that cannot work is one ConfigError naming the value and the variable', () => {
    for (const [url, why] of [
      ['s3://My_Bucket/x', /"My_Bucket" is not a valid bucket name/],
      ['s3://key:secret@bucket', /credentials or a port do not belong in it/],
      ['S3://bucket', /write the scheme as s3:\/\//],
      ['ftp://host/dir', /unsupported scheme "ftp:"/],
    ] as const) {
      assert.throws(
        () => createStorage(loadConfig({ SDAPI_STORAGE_URL: url })),
        (err: unknown) => err instanceof ConfigError && why.test(err.message) && err.message.includes('SDAPI_STORAGE_URL') && !err.message.includes('secret'),
        url,
      );
    }
  });

  it('README documents every variable of the schema', () => {
    const readme = readFileSync(join(projectRoot, 'README.md'), 'utf8');
    for (const name of Object.keys(EnvSchema.properties)) assert.ok(readme.includes(`\`${name}\``), `${name} is not in README.md`);
  });
});
