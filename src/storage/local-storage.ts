/** FileStorage on the local disk, under one root folder. Writes go to a temp file in the same folder, then rename. */
import { createReadStream, type ReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, resolve, sep } from 'node:path';
import { assertValidKey, CHECK_OBJECT, isValidKey, StorageUnavailableError, type ByteRange, type FileStorage, type PutOptions, type StoredFileInfo } from './file-storage.ts';

const MISSING = new Set(['ENOENT', 'ENOTDIR', 'EISDIR']);
const isMissing = (err: unknown): boolean => MISSING.has(String((err as NodeJS.ErrnoException).code));

export class LocalFileStorage implements FileStorage {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  /** Absolute path of a key; throws for keys that are invalid or would leave the root. */
  pathOf(key: string): string {
    assertValidKey(key);
    const full = resolve(this.root, key);
    if (!full.startsWith(this.root + sep)) throw new Error(`Cannot use storage key: "${key}" leaves the storage folder`);
    return full;
  }

  /** Local files carry no headers: the content type comes from the extension when served, so `options` is not stored. */
  async put(key: string, data: Uint8Array, _options?: PutOptions): Promise<void> {
    const target = this.pathOf(key);
    await mkdir(dirname(target), { recursive: true });
    const temp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
    const handle = await open(temp, 'wx');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } catch (err) {
      await handle.close();
      await rm(temp, { force: true });
      throw err;
    }
    await handle.close();
    try {
      await rename(temp, target);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }

  async stat(key: string): Promise<StoredFileInfo | undefined> {
    if (!isValidKey(key)) return undefined;
    try {
      const s = await stat(this.pathOf(key));
      return s.isFile() ? { size: s.size, modifiedAt: s.mtime } : undefined;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  read(key: string): Promise<Buffer> {
    return readFile(this.pathOf(key));
  }

  createReadStream(key: string, range?: ByteRange): ReadStream {
    return createReadStream(this.pathOf(key), range ? { start: range.start, end: range.end } : {});
  }

  async openReadStream(key: string, range?: ByteRange): Promise<Readable | undefined> {
    if (!isValidKey(key)) return undefined;
    let handle;
    try {
      handle = await open(this.pathOf(key), 'r');
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
    try {
      if (!(await handle.stat()).isFile()) {
        await handle.close();
        return undefined;
      }
    } catch (err) {
      await handle.close();
      throw err;
    }
    return handle.createReadStream(range ? { start: range.start, end: range.end } : {});
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  /** Creates the folder when missing and writes and removes a small file in it. */
  async check(): Promise<void> {
    const probe = resolve(this.root, `${CHECK_OBJECT}-${randomBytes(6).toString('hex')}`);
    try {
      await mkdir(this.root, { recursive: true });
      await writeFile(probe, 'ok', { flag: 'wx' });
      await rm(probe, { force: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new StorageUnavailableError(`the folder ${this.root} cannot be written (${code})`, { cause: err });
    }
  }

  /** Checks every key first, then removes the files, a few at a time. */
  async deleteMany(keys: readonly string[]): Promise<void> {
    const paths = [...new Set(keys)].map((k) => this.pathOf(k));
    for (let i = 0; i < paths.length; i += 32) {
      await Promise.all(paths.slice(i, i + 32).map((p) => rm(p, { force: true })));
    }
  }
}
