/**
 * FileStorage in an S3-compatible bucket (AWS S3, MinIO, Cloudflare R2, …), under an optional key prefix.
 * Objects are written whole (one PutObject each) and read as the GetObject body stream.
 * Errors that are the backend's (network, credentials, missing bucket, 5xx) reject with StorageUnavailableError,
 * whose message names the key and the S3 error code but never the bucket, the endpoint or the SDK's text;
 * the SDK error is its `cause`, for the logs.
 * The SDK (a quarter of a second to load) is imported on first use, so processes that store locally never load it.
 */
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import {
  assertValidKey,
  CHECK_OBJECT,
  contentTypeOf,
  IMMUTABLE_CACHE_CONTROL,
  isValidKey,
  shownUrl,
  StorageConfigError,
  StorageUnavailableError,
  type ByteRange,
  type FileStorage,
  type PutOptions,
  type StoredFileInfo,
} from './file-storage.ts';

export type ChecksumMode = 'WHEN_SUPPORTED' | 'WHEN_REQUIRED';

export interface S3StorageOptions {
  /** Endpoint of an S3-compatible server (MinIO, R2, …), http:// or https://; AWS S3 when absent. */
  endpoint?: string;
  /** Signing region. Absent: the SDK's chain (AWS_REGION, the profile) for AWS, `us-east-1` with a custom endpoint. */
  region?: string;
  /** Path-style URLs (`<endpoint>/<bucket>/<key>`), as MinIO and most self-hosted servers need. */
  forcePathStyle?: boolean;
  /** Explicit keys; absent: the SDK's default provider chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, AWS_PROFILE, SSO, instance roles…). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Serve images by redirecting to presigned GET URLs: true (5 minutes) or their lifetime in seconds (1–604800). */
  presign?: boolean | number;
  /**
   * requestChecksumCalculation and responseChecksumValidation. Absent: the SDK's own setting (WHEN_SUPPORTED, or the
   * AWS_REQUEST_CHECKSUM_CALCULATION / AWS_RESPONSE_CHECKSUM_VALIDATION variables). WHEN_REQUIRED for servers that reject the CRC checksums.
   */
  checksums?: ChecksumMode;
  /** Each direction on its own (AWS_REQUEST_CHECKSUM_CALCULATION, AWS_RESPONSE_CHECKSUM_VALIDATION); wins over `checksums`. */
  requestChecksumCalculation?: ChecksumMode;
  responseChecksumValidation?: ChecksumMode;
  /** A profile of the shared AWS config and credentials files (as AWS_PROFILE); ignored when `credentials` is given. */
  profile?: string;
  /** Attempts per request, retries included (SDK default 3). */
  maxAttempts?: number;
  /** Milliseconds to open a connection (default 5000) and of socket inactivity before a request fails (default 30000). */
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
}

export const DEFAULT_PRESIGN_SECONDS = 300;
const MAX_PRESIGN_SECONDS = 604_800;
const DELETE_BATCH = 1000;

interface Sdk {
  s3: typeof import('@aws-sdk/client-s3');
  presigner: typeof import('@aws-sdk/s3-request-presigner');
  client: S3Client;
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PREFIX_SEGMENT = /^[A-Za-z0-9._-]{1,200}$/;

export interface S3Location {
  bucket: string;
  /** Key prefix without leading or trailing slash; '' for the bucket root. */
  prefix: string;
}

/** Parses `s3://bucket/prefix` (read as written: no percent-decoding, no dot-segment resolution); throws StorageConfigError naming the value. */
export function parseS3Url(url: string): S3Location {
  const bad = (why: string): StorageConfigError =>
    new StorageConfigError(`Invalid storage URL "${shownUrl(url)}": ${why}; expected s3://bucket or s3://bucket/prefix`);
  if (!url.startsWith('s3://')) throw bad('the scheme is not s3://');
  const rest = url.slice('s3://'.length);
  if (/[?#]/.test(rest)) throw bad('a query or a fragment does not belong in it');
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const path = (slash < 0 ? '' : rest.slice(slash + 1)).replace(/^\/+|\/+$/g, '');
  if (/[@:]/.test(bucket)) throw bad('credentials or a port do not belong in it (use the endpoint option and the AWS credential variables)');
  if (!bucket) throw bad('the bucket name is missing');
  if (!BUCKET.test(bucket) || bucket.includes('..') || /^\d+\.\d+\.\d+\.\d+$/.test(bucket)) {
    throw bad(`"${bucket}" is not a valid bucket name (3–63 lowercase letters, digits, dots and hyphens)`);
  }
  const segments = path === '' ? [] : path.split('/').filter((seg) => seg !== '');
  if (path.length > 512 || segments.some((seg) => !PREFIX_SEGMENT.test(seg) || seg === '.' || seg === '..')) {
    throw bad(`"${path}" is not a valid key prefix (letters, digits, ".", "_", "-" between slashes; no "." or ".." segments)`);
  }
  return { bucket, prefix: segments.join('/') };
}

function httpStatus(err: unknown): number | undefined {
  const meta = (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata;
  return typeof meta?.httpStatusCode === 'number' ? meta.httpStatusCode : undefined;
}

function errorName(err: unknown): string {
  if (err && typeof err === 'object') {
    const { code, name } = err as { code?: unknown; name?: unknown };
    if (typeof code === 'string' && code) return code;
    if (typeof name === 'string' && name && name !== 'Error') return name;
  }
  return 'unknown error';
}

function isNotFound(err: unknown): boolean {
  const name = errorName(err);
  return httpStatus(err) === 404 && (name === 'NotFound' || name === 'NoSuchKey' || name === 'unknown error');
}

/** "connection refused (ECONNREFUSED)", "AccessDenied (HTTP 403)": what went wrong, without the SDK's text (which may name the bucket). */
function describe(err: unknown): string {
  const name = errorName(err);
  const status = httpStatus(err);
  const hints: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ECONNRESET: 'connection reset',
    ETIMEDOUT: 'timed out',
    TimeoutError: 'timed out',
    ENOTFOUND: 'host not found',
    EAI_AGAIN: 'host not found',
    AccessDenied: 'access denied',
    InvalidAccessKeyId: 'unknown access key',
    SignatureDoesNotMatch: 'wrong secret key',
    NoSuchBucket: 'no such bucket',
    CredentialsProviderError: 'no credentials',
  };
  const hint = hints[name];
  if (hint) return `${hint} (${name})${status ? ` (HTTP ${status})` : ''}`;
  if (status && (name === 'Unknown' || name === 'UnknownError' || name === 'unknown error' || name === String(status))) {
    // HEAD answers have no body, so the SDK has only the status.
    const byStatus: Record<number, string> = { 400: 'bad request', 401: 'not authorised', 403: 'access denied', 404: 'not found', 503: 'service unavailable' };
    return `${byStatus[status] ?? (status >= 500 ? 'server error' : 'error')} (HTTP ${status})`;
  }
  return `${name}${status ? ` (HTTP ${status})` : ''}`;
}

export class S3FileStorage implements FileStorage {
  readonly bucket: string;
  readonly prefix: string;
  /** Lifetime of presigned URLs in seconds, or undefined when images are streamed through the app. */
  readonly presignSeconds: number | undefined;
  private readonly config: S3ClientConfig;
  private loading: Promise<Sdk> | undefined;

  constructor(url: string, options: S3StorageOptions = {}) {
    ({ bucket: this.bucket, prefix: this.prefix } = parseS3Url(url));
    const { endpoint, presign } = options;
    if (endpoint !== undefined) {
      let ok = false;
      try {
        const u = new URL(endpoint);
        ok = (u.protocol === 'http:' || u.protocol === 'https:') && !u.username && !u.password;
      } catch {
        ok = false;
      }
      if (!ok) throw new StorageConfigError(`Invalid S3 endpoint "${shownUrl(endpoint)}": expected an http:// or https:// URL without credentials`);
    }
    if (options.region !== undefined && !/^[a-z0-9-]{1,64}$/i.test(options.region)) {
      throw new StorageConfigError(`Invalid S3 region "${options.region}": expected a name such as us-east-1 or auto`);
    }
    if (presign === true) this.presignSeconds = DEFAULT_PRESIGN_SECONDS;
    else if (presign === false || presign === undefined) this.presignSeconds = undefined;
    else if (Number.isInteger(presign) && presign >= 1 && presign <= MAX_PRESIGN_SECONDS) this.presignSeconds = presign;
    else throw new StorageConfigError(`Invalid S3 presign lifetime "${presign}": expected whole seconds from 1 to ${MAX_PRESIGN_SECONDS}`);
    const config: S3ClientConfig = {
      forcePathStyle: options.forcePathStyle ?? false,
      requestHandler: { connectionTimeout: options.connectionTimeoutMs ?? 5000, requestTimeout: options.requestTimeoutMs ?? 30_000 },
    };
    if (endpoint !== undefined) config.endpoint = endpoint;
    const region = options.region ?? (endpoint !== undefined ? 'us-east-1' : undefined);
    if (region !== undefined) config.region = region;
    if (options.credentials) config.credentials = options.credentials;
    const requestChecksums = options.requestChecksumCalculation ?? options.checksums;
    const responseChecksums = options.responseChecksumValidation ?? options.checksums;
    if (requestChecksums) config.requestChecksumCalculation = requestChecksums;
    if (responseChecksums) config.responseChecksumValidation = responseChecksums;
    if (options.profile !== undefined && !options.credentials) config.profile = options.profile;
    if (options.maxAttempts !== undefined) config.maxAttempts = options.maxAttempts;
    this.config = config;
  }

  /** The SDK modules and the client, loaded once. */
  private sdk(): Promise<Sdk> {
    this.loading ??= Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/s3-request-presigner')]).then(([s3, presigner]) => ({
      s3,
      presigner,
      client: new s3.S3Client(this.config),
    }));
    return this.loading;
  }

  /** The SDK client (created on first use). */
  async client(): Promise<S3Client> {
    return (await this.sdk()).client;
  }

  /** The object key of a storage key; throws for invalid keys. */
  objectKey(key: string): string {
    assertValidKey(key);
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  private unavailable(action: string, key: string, err: unknown): StorageUnavailableError {
    return new StorageUnavailableError(`S3 storage could not ${action} "${key}": ${describe(err)}`, { cause: err });
  }

  async put(key: string, data: Uint8Array, options: PutOptions = {}): Promise<void> {
    const Key = this.objectKey(key);
    const { s3, client } = await this.sdk();
    try {
      await client.send(
        new s3.PutObjectCommand({
          Bucket: this.bucket,
          Key,
          Body: data,
          ContentLength: data.byteLength,
          ContentType: options.contentType ?? contentTypeOf(key) ?? 'application/octet-stream',
          CacheControl: options.cacheControl ?? IMMUTABLE_CACHE_CONTROL,
        }),
      );
    } catch (err) {
      throw this.unavailable('store', key, err);
    }
  }

  async stat(key: string): Promise<StoredFileInfo | undefined> {
    if (!isValidKey(key)) return undefined;
    const { s3, client } = await this.sdk();
    try {
      const head = await client.send(new s3.HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      const info: StoredFileInfo = { size: head.ContentLength ?? 0, modifiedAt: head.LastModified ?? new Date(0) };
      if (head.ETag) info.etag = head.ETag;
      return info;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw this.unavailable('look up', key, err);
    }
  }

  async read(key: string): Promise<Buffer> {
    const stream = await this.openReadStream(key);
    if (!stream) throw Object.assign(new Error(`No stored file "${key}"`), { code: 'ENOENT' });
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
    } catch (err) {
      throw this.unavailable('read', key, err);
    }
    return Buffer.concat(chunks);
  }

  createReadStream(key: string, range?: ByteRange): Readable {
    this.objectKey(key);
    const out = new PassThrough();
    this.openReadStream(key, range).then(
      (stream) => {
        if (!stream) out.destroy(Object.assign(new Error(`No stored file "${key}"`), { code: 'ENOENT' }));
        else pipeline(stream, out).catch((err: unknown) => out.destroy(err instanceof Error ? err : new Error(String(err))));
      },
      (err: unknown) => out.destroy(err instanceof Error ? err : new Error(String(err))),
    );
    return out;
  }

  async openReadStream(key: string, range?: ByteRange): Promise<Readable | undefined> {
    if (!isValidKey(key)) return undefined;
    let body: unknown;
    let contentRange: string | undefined;
    const { s3, client } = await this.sdk();
    try {
      const res = await client.send(
        new s3.GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key), Range: range ? `bytes=${range.start}-${range.end}` : undefined }),
      );
      body = res.Body;
      contentRange = res.ContentRange;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw this.unavailable('read', key, err);
    }
    if (!(body instanceof Readable)) {
      throw new StorageUnavailableError(`S3 storage could not read "${key}": the response had no body stream`);
    }
    if (range && !contentRange?.startsWith(`bytes ${range.start}-${range.end}/`)) {
      body.destroy();
      throw new StorageUnavailableError(`S3 storage could not read "${key}": the server ignored the requested range`);
    }
    return body;
  }

  async delete(key: string): Promise<void> {
    const Key = this.objectKey(key);
    const { s3, client } = await this.sdk();
    try {
      await client.send(new s3.DeleteObjectCommand({ Bucket: this.bucket, Key }));
    } catch (err) {
      if (isNotFound(err)) return;
      throw this.unavailable('delete', key, err);
    }
  }

  /**
   * DeleteObjects in batches of up to 1000 keys, one batch after the other; every key is checked before the first call.
   * A failed batch rejects, naming how many keys earlier batches had already deleted.
   */
  async deleteMany(keys: readonly string[]): Promise<void> {
    const unique = [...new Set(keys)];
    const objectKeys = unique.map((k) => this.objectKey(k));
    if (objectKeys.length === 0) return;
    const { s3, client } = await this.sdk();
    for (let i = 0; i < objectKeys.length; i += DELETE_BATCH) {
      const batch = objectKeys.slice(i, i + DELETE_BATCH);
      const where = `keys ${i + 1}–${i + batch.length} of ${objectKeys.length}, ${i} deleted before`;
      let errors;
      try {
        ({ Errors: errors } = await client.send(
          new s3.DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
        ));
      } catch (err) {
        throw new StorageUnavailableError(`S3 storage could not delete objects (${where}): ${describe(err)}`, { cause: err });
      }
      const failed = (errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length > 0) {
        const first = failed[0];
        const firstKey = first.Key && this.prefix && first.Key.startsWith(`${this.prefix}/`) ? first.Key.slice(this.prefix.length + 1) : first.Key;
        throw new StorageUnavailableError(
          `S3 storage could not delete ${failed.length} objects (${where}; first "${firstKey ?? '?'}": ${first.Code ?? 'unknown error'})`,
        );
      }
    }
  }

  /** A presigned GET URL for the object, valid for `expiresInSeconds` (default: the presign option, else 5 minutes). */
  async presignGet(key: string, expiresInSeconds = this.presignSeconds ?? DEFAULT_PRESIGN_SECONDS): Promise<string> {
    const Key = this.objectKey(key);
    const { s3, presigner, client } = await this.sdk();
    try {
      return await presigner.getSignedUrl(client, new s3.GetObjectCommand({ Bucket: this.bucket, Key }), { expiresIn: expiresInSeconds });
    } catch (err) {
      throw this.unavailable('sign a URL for', key, err);
    }
  }

  async redirectUrl(key: string): Promise<{ url: string; expiresInSeconds: number } | undefined> {
    if (this.presignSeconds === undefined) return undefined;
    return { url: await this.presignGet(key, this.presignSeconds), expiresInSeconds: this.presignSeconds };
  }

  /**
   * PutObject then DeleteObject of a small object under the prefix (the permissions sdapi needs; a missing bucket,
   * wrong keys or an unreachable endpoint fail here). Gives up after `timeoutMs` (default 15 s) whatever the retries.
   */
  async check(options: { timeoutMs?: number } = {}): Promise<void> {
    const Key = this.prefix ? `${this.prefix}/${CHECK_OBJECT}` : CHECK_OBJECT;
    const { s3, client } = await this.sdk();
    const timeoutMs = options.timeoutMs ?? 15_000;
    const abortSignal = AbortSignal.timeout(timeoutMs);
    let step = 'write a test object';
    try {
      await client.send(new s3.PutObjectCommand({ Bucket: this.bucket, Key, Body: 'ok', ContentType: 'text/plain' }), { abortSignal });
      step = 'delete its test object';
      await client.send(new s3.DeleteObjectCommand({ Bucket: this.bucket, Key }), { abortSignal });
    } catch (err) {
      const why = abortSignal.aborted ? `no answer within ${timeoutMs / 1000} s` : describe(err);
      throw new StorageUnavailableError(`could not ${step}: ${why}`, { cause: err });
    }
  }

  /** Closes the SDK's sockets (when it was loaded); the storage must not be used afterwards. */
  async close(): Promise<void> {
    if (this.loading) (await this.loading.catch(() => undefined))?.client.destroy();
  }
}
