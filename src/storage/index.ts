export type { FileStorage, StoredFileInfo } from './file-storage.ts';
export { isValidKey } from './file-storage.ts';
export { LocalFileStorage } from './local-storage.ts';
