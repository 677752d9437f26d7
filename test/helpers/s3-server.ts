/**
 * A local S3 protocol server for tests: s3rver on 127.0.0.1, a random port, a temp directory, one bucket.
 * stop() takes it down (connections cut: requests are refused), start() brings it back on the same port with
 * the same data. It closes itself after `lifetimeMs` if a test forgets to; close() removes the directory.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { S3FileStorage, type S3StorageOptions } from '../../src/storage/s3-storage.ts';

/** s3rver's fixed account. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface TestS3Server {
  endpoint: string;
  port: number;
  bucket: string;
  dir: string;
  running(): boolean;
  /** Storage options that work against this server (path style, s3rver's keys, checksums only when required). */
  options(extra?: S3StorageOptions): S3StorageOptions;
  /** An S3FileStorage on `s3://<bucket>/<prefix>`. */
  storage(prefix?: string, extra?: S3StorageOptions): S3FileStorage;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startS3Server(options: { bucket?: string; lifetimeMs?: number } = {}): Promise<TestS3Server> {
  const bucket = options.bucket ?? 'sdapi-test';
  const dir = await mkdtemp(join(tmpdir(), 'sdapi-s3rver-'));
  let port = 0;
  let server: S3rver | undefined;

  async function start(): Promise<void> {
    if (server) return;
    const s = new S3rver({ address: '127.0.0.1', port, directory: dir, silent: true, configureBuckets: [{ name: bucket }] });
    const address = await s.run();
    port = address.port;
    server = s;
  }

  async function stop(): Promise<void> {
    const s = server;
    if (!s) return;
    server = undefined;
    const closed = s.close();
    s.httpServer?.closeAllConnections();
    await closed;
  }

  await start();
  const endpoint = `http://127.0.0.1:${port}`;
  const timer = setTimeout(() => void stop(), options.lifetimeMs ?? 120_000);
  timer.unref();
  const made: S3FileStorage[] = [];

  const serverOptions = (extra: S3StorageOptions = {}): S3StorageOptions => ({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
    checksums: 'WHEN_REQUIRED',
    ...extra,
  });

  return {
    endpoint,
    get port() {
      return port;
    },
    bucket,
    dir,
    running: () => server !== undefined,
    options: serverOptions,
    storage(prefix = '', extra = {}) {
      const s = new S3FileStorage(`s3://${bucket}${prefix ? `/${prefix}` : ''}`, serverOptions(extra));
      made.push(s);
      return s;
    },
    stop,
    start,
    async close() {
      clearTimeout(timer);
      await Promise.all(made.map((s) => s.close()));
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
