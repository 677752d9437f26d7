/** Picks the storage from one URL: a directory (plain path or file: URL) or an S3 bucket (s3://bucket/prefix). */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { shownUrl, StorageConfigError, type FileStorage } from './file-storage.ts';
import { LocalFileStorage } from './local-storage.ts';
import { S3FileStorage, type S3StorageOptions } from './s3-storage.ts';

export interface FileStorageOptions {
  /** `/var/lib/sdapi/storage`, `./data/storage`, `file:///var/lib/sdapi/storage` or `s3://bucket/prefix` (SDAPI_STORAGE_URL). */
  url: string;
  /** Folder that relative paths are resolved against (default: the working directory). */
  baseDir?: string;
  /** Used only for s3:// URLs (SDAPI_S3_*; credentials from the AWS variables when not given). */
  s3?: S3StorageOptions;
}

const EXPECTED = 'expected a directory path, a file:///path URL or s3://bucket/prefix';

/** Builds the FileStorage a URL names; throws StorageConfigError naming the bad value. */
export function createFileStorage(options: FileStorageOptions): FileStorage {
  const { url } = options;
  const bad = (why: string): StorageConfigError => new StorageConfigError(`Invalid storage URL "${shownUrl(url)}": ${why}; ${EXPECTED}`);
  if (typeof url !== 'string' || url.trim() === '') throw bad('it is empty');
  if (/[\0\r\n]/.test(url)) throw bad('it contains control characters');
  if (/^s3:/i.test(url)) {
    if (!url.startsWith('s3://')) throw bad('write the scheme as s3:// (lowercase, two slashes)');
    return new S3FileStorage(url, options.s3);
  }
  if (/^file:/i.test(url)) {
    let path: string;
    try {
      path = fileURLToPath(url);
    } catch {
      throw bad('not a local file: URL');
    }
    return new LocalFileStorage(path);
  }
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url);
  if (scheme) throw bad(`unsupported scheme "${scheme[1]}:" (write ./${url} for a folder with a colon in its name)`);
  return new LocalFileStorage(resolve(options.baseDir ?? process.cwd(), url));
}
