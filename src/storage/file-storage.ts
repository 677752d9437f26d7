/**
 * Where generated files live. Keys are relative, slash-separated names such as
 * `stablediffusion_text2img/<uuid>.png`; an implementation maps them to disk, S3 or elsewhere.
 */
import type { Readable } from 'node:stream';

/** Stored names never change content, so every cache may keep them for a year. */
export const IMMUTABLE_CACHE_CONTROL = 'private, max-age=31536000, immutable';

export interface StoredFileInfo {
  size: number;
  modifiedAt: Date;
  /** Quoted entity tag, when the backend has one (S3's ETag); the route derives one from size and time otherwise. */
  etag?: string;
}

export interface PutOptions {
  /** MIME type stored with the object (S3 Content-Type); derived from the key's extension when absent. */
  contentType?: string;
  /** Cache-Control stored with the object; IMMUTABLE_CACHE_CONTROL when absent. */
  cacheControl?: string;
}

/** Inclusive byte range, both ends within the object. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface FileStorage {
  /** Writes the whole object atomically: readers see the old object or the new one, never a part. Rejects when it was not written. */
  put(key: string, data: Uint8Array, options?: PutOptions): Promise<void>;
  /** Size and time, or undefined when there is no such object (or the key is not a valid key). Rejects only when the backend failed. */
  stat(key: string): Promise<StoredFileInfo | undefined>;
  read(key: string): Promise<Buffer>;
  /** A stream that is opened lazily: a missing object or a backend failure arrives as the stream's 'error'. */
  createReadStream(key: string, range?: ByteRange): Readable;
  /**
   * Opens the object (or a range of it) once the backend has answered: undefined when there is no such object
   * (or the key is invalid), a rejection when the backend failed. What the route streams from.
   */
  openReadStream(key: string, range?: ByteRange): Promise<Readable | undefined>;
  /** Deleting a missing object is not an error. */
  delete(key: string): Promise<void>;
  /** Deletes many objects (S3: DeleteObjects, at most 1000 keys a call). Missing objects are not an error; invalid keys are rejected before anything is deleted. */
  deleteMany(keys: readonly string[]): Promise<void>;
  /**
   * Where a client may fetch the object directly instead of through the app (S3 with presigning on): a short-lived URL.
   * Undefined when the storage serves through the app; a storage without the method never redirects.
   */
  redirectUrl?(key: string): Promise<{ url: string; expiresInSeconds: number } | undefined>;
  /**
   * Proves the storage can be used before a process starts serving: writes a small object outside the image key
   * space and deletes it. Rejects with StorageUnavailableError saying why (no such bucket, access denied, unreachable).
   */
  check?(options?: { timeoutMs?: number }): Promise<void>;
  /** Releases connections; the storage must not be used afterwards. */
  close?(): Promise<void>;
}

/** Name of the object check() writes and deletes: it starts with a dot, so it is never a valid key (never served, never listed as an image). */
export const CHECK_OBJECT = '.sdapi-storage-check';

/** The backend did not answer or refused (network, credentials, missing bucket): not the caller's fault; the message names no internals. */
export class StorageUnavailableError extends Error {
  override readonly name = 'StorageUnavailableError';
}

/** A storage URL or option that cannot work; the message names the bad value. */
export class StorageConfigError extends Error {
  override readonly name = 'StorageConfigError';
}

/** A URL fit for an error message: anything before an `@` in its authority (user, password) is masked. */
export function shownUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1***@');
}

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/** True for keys made of 1–4 safe segments; rejects `..`, absolute paths, backslashes, empty segments and control characters. */
export function isValidKey(key: string): boolean {
  if (key.length === 0 || key.length > 512) return false;
  const parts = key.split('/');
  if (parts.length > 4) return false;
  return parts.every((p) => SEGMENT.test(p) && !p.includes('..'));
}

export function assertValidKey(key: string): void {
  if (!isValidKey(key)) throw new Error(`Cannot use storage key: "${key}" is not a valid key`);
}

const TYPES: Record<string, string> = { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', webp: 'image/webp' };

/** The MIME type of a stored name by its extension (the files this service writes and serves), or undefined. */
export function contentTypeOf(key: string): string | undefined {
  const dot = key.lastIndexOf('.');
  return dot < 0 ? undefined : TYPES[key.slice(dot + 1).toLowerCase()];
}
