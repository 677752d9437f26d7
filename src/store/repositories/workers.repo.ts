/** The `workers` table: one heartbeat row per running worker, what it serves and on which device. */
import type { Kysely, Selectable } from 'kysely';
import type { Database } from '../schema.ts';
import type { WorkersTable } from '../tables/generation.ts';

export type WorkerRow = Selectable<WorkersTable>;

export class WorkersRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Inserts the row, or replaces it (a worker re-registering after its row was swept as dead). */
  async upsert(row: WorkerRow): Promise<void> {
    await this.db
      .insertInto('workers')
      .values(row)
      .onConflict((oc) => oc.column('id').doUpdateSet({ engines: row.engines, concurrency: row.concurrency, last_seen: row.last_seen }))
      .execute();
  }

  /** The heartbeat; false when the row is gone (swept), so the worker registers again. */
  async touch(id: string, change: { lastSeen: string; engines: string }): Promise<boolean> {
    const result = await this.db.updateTable('workers').set({ last_seen: change.lastSeen, engines: change.engines }).where('id', '=', id).executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async remove(id: string): Promise<void> {
    await this.db.deleteFrom('workers').where('id', '=', id).execute();
  }

  /** Workers whose last heartbeat is at or after `seenSince`. */
  async seenSince(seenSince: string): Promise<WorkerRow[]> {
    return this.db.selectFrom('workers').selectAll().where('last_seen', '>=', seenSince).orderBy('started_at').execute();
  }

  /** Deletes the rows of workers gone silent before `cutoff` (crashed: a graceful stop deletes its own row). */
  async removeSeenBefore(cutoff: string): Promise<number> {
    const result = await this.db.deleteFrom('workers').where('last_seen', '<', cutoff).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
