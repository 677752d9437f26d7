/**
 * Where generated files live. Keys are relative, slash-separated names such as
 * `stablediffusion_text2img/<uuid>.png`; an implementation maps them to disk, S3 or elsewhere.
 */
import type { Readable } from 'node:stream';

export interface StoredFileInfo {
  size: number;
  modifiedAt: Date;
}

export interface FileStorage {
  /** Writes the whole object atomically: readers see the old object or the new one, never a part. */
  put(key: string, data: Uint8Array): Promise<void>;
  /** Size and time, or undefined when there is no such object (or the key is not a valid key). */
  stat(key: string): Promise<StoredFileInfo | undefined>;
  read(key: string): Promise<Buffer>;
  createReadStream(key: string): Readable;
  /** Deleting a missing object is not an error. */
  delete(key: string): Promise<void>;
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
