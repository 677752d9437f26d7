export type { ByteRange, FileStorage, PutOptions, StoredFileInfo } from './file-storage.ts';
export { CHECK_OBJECT, contentTypeOf, IMMUTABLE_CACHE_CONTROL, isValidKey, StorageConfigError, StorageUnavailableError } from './file-storage.ts';
export { LocalFileStorage } from './local-storage.ts';
export { DEFAULT_PRESIGN_SECONDS, parseS3Url, S3FileStorage, type ChecksumMode, type S3StorageOptions } from './s3-storage.ts';
export { createFileStorage, type FileStorageOptions } from './factory.ts';
