/**
 * FileJanitor: deletes image files, keeps what the storage refused in `file_deletions`, and retries it (on SQLite,
 * and on PostgreSQL in the parity run). The storage is a recording fake that can be switched off.
 */
import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { FileJanitor } from '../../src/services/files/file-janitor.ts';
import { StorageUnavailableError, type FileStorage } from '../../src/storage/file-storage.ts';
import type { Store } from '../../src/store/database.ts';
import { steppingClock } from '../helpers/clock.ts';
import { openTestStore } from '../helpers/scale-out.ts';

/** Deletes into a set of present keys, or fails every call while `down`. */
class FakeStorage implements FileStorage {
  present = new Set<string>();
  down = false;
  calls: number[] = [];
  async deleteMany(keys: readonly string[]): Promise<void> {
    this.calls.push(keys.length);
    if (this.down) throw new StorageUnavailableError('S3 storage could not delete objects: connection refused (ECONNREFUSED)');
    for (const k of keys) this.present.delete(k);
  }
  put = async (key: string) => void this.present.add(key);
  stat = async () => undefined;
  read = async () => Buffer.alloc(0);
  createReadStream = (): Readable => {
    throw new Error('unused');
  };
  openReadStream = async () => undefined;
  delete = async (key: string) => void this.present.delete(key);
}

describe('FileJanitor', () => {
  let store: Store;
  const storage = new FakeStorage();
  const logged: string[] = [];
  let janitor: FileJanitor;

  before(async () => {
    store = await openTestStore('janitor');
    const logger = { info: () => undefined, warn: () => undefined, error: (_: object, msg?: string) => void logged.push(msg ?? '') };
    janitor = new FileJanitor({ store, storage, logger, clock: steppingClock() });
  });
  after(() => store.close());

  const keys = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `v1/${tag}-${String(i).padStart(4, '0')}.png`);

  it('records keys in the deleting transaction and forgets them once the storage deleted them', async () => {
    const files = keys(3, 'a');
    for (const k of files) await storage.put(k);
    await store.transaction((tx) => janitor.record(tx, files));
    assert.equal(await store.repos.fileDeletions.count(), 3, 'recorded with the rows’ deletion');
    await janitor.delete(files);
    assert.equal(storage.present.size, 0);
    assert.equal(await store.repos.fileDeletions.count(), 0);
    assert.deepEqual(logged, []);
  });

  it('keeps what the storage refused (recorded or not), retries it in batches until it is gone', async () => {
    const recorded = keys(700, 'b');
    const unrecorded = keys(2, 'c');
    for (const k of [...recorded, ...unrecorded]) await storage.put(k);
    storage.down = true;
    await store.transaction((tx) => janitor.record(tx, recorded));
    await janitor.delete(recorded, { threadId: 't' });
    await janitor.delete(unrecorded, { reason: 'failed job' });
    await janitor.delete(recorded, { threadId: 't' }); // twice: one row per key
    assert.equal(await store.repos.fileDeletions.count(), 702);
    assert.equal(logged.length, 3);
    assert.match(logged[0], /kept for a retry/);

    assert.deepEqual(await janitor.retry(500), { deleted: 0, pending: 702 });
    const attempts = await store.db.selectFrom('file_deletions').select(['attempts', 'last_error']).where('key', '=', recorded[0]).executeTakeFirstOrThrow();
    assert.equal(Number(attempts.attempts), 1);
    assert.match(attempts.last_error ?? '', /ECONNREFUSED/);

    storage.down = false;
    storage.calls = [];
    assert.deepEqual(await janitor.retry(500), { deleted: 500, pending: 202 });
    assert.deepEqual(await janitor.retry(500), { deleted: 202, pending: 0 });
    assert.deepEqual(await janitor.retry(500), { deleted: 0, pending: 0 });
    assert.deepEqual(storage.calls, [500, 202]);
    assert.equal(storage.present.size, 0);
  });
});
