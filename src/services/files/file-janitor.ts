/**
 * Deletes image files whose entries are gone, and makes sure they stay deleted when the storage is away: keys the
 * storage did not confirm are kept in `file_deletions` and retried by the API's housekeeping until they are gone.
 * Callers never see a storage failure: the rows they deleted stay deleted.
 */
import { systemClock, type Clock } from '../../domain/clock.ts';
import { silentLogger, type OperationalLogger } from '../../domain/logger.ts';
import type { FileStorage } from '../../storage/file-storage.ts';
import type { DataStore } from '../../store/database.ts';
import type { Repositories } from '../../store/repositories/repositories.ts';

/** Keys per retry: one DeleteObjects request. */
export const RETRY_BATCH = 1000;

export interface FileJanitorDeps {
  store: DataStore;
  storage: FileStorage;
  logger?: OperationalLogger;
  clock?: Clock;
}

export interface RetryResult {
  deleted: number;
  /** Keys still waiting after this retry (the storage failed again, or there were more than one batch). */
  pending: number;
}

export class FileJanitor {
  readonly #clock: Clock;
  readonly #log: OperationalLogger;

  constructor(private readonly deps: FileJanitorDeps) {
    this.#clock = deps.clock ?? systemClock;
    this.#log = deps.logger ?? silentLogger;
  }

  /** Inside the transaction that deletes the rows: records their files, so a crash before delete() loses none. */
  async record(tx: Repositories, keys: readonly string[]): Promise<void> {
    if (keys.length > 0) await tx.fileDeletions.add(keys, this.#clock().toISOString());
  }

  /**
   * Deletes files (after the transaction that recorded them, or files never recorded: a failed job's). On success
   * their records go; on failure they are recorded (kept) for a retry and the failure is logged. Never throws.
   */
  async delete(keys: readonly string[], context: Record<string, unknown> = {}): Promise<void> {
    if (keys.length === 0) return;
    const { repos } = this.deps.store;
    try {
      await this.deps.storage.deleteMany(keys);
    } catch (err) {
      try {
        await repos.fileDeletions.add(keys, this.#clock().toISOString());
        this.#log.error({ err, ...context, files: keys.length }, 'could not delete image files; they are kept for a retry');
      } catch (recordErr) {
        this.#log.error({ err, recordErr, ...context, files: keys }, 'could not delete image files nor record them for a retry');
      }
      return;
    }
    await repos.fileDeletions.remove(keys).catch((err: unknown) => this.#log.error({ err, ...context }, 'could not clear the records of deleted image files'));
  }

  /** One batch of the keys waiting longest: deleted and forgotten, or counted as another failed attempt. */
  async retry(limit = RETRY_BATCH): Promise<RetryResult> {
    const { fileDeletions } = this.deps.store.repos;
    const keys = await fileDeletions.oldest(limit);
    if (keys.length === 0) return { deleted: 0, pending: 0 };
    try {
      await this.deps.storage.deleteMany(keys);
    } catch (err) {
      await fileDeletions.failed(keys, err instanceof Error ? err.message : String(err));
      return { deleted: 0, pending: await fileDeletions.count() };
    }
    await fileDeletions.remove(keys);
    return { deleted: keys.length, pending: await fileDeletions.count() };
  }
}
