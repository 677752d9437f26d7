import type { Kysely } from 'kysely';

/**
 * Image storage (issue #18): `file_deletions` holds the storage keys of files whose entries are gone but which the
 * storage has not confirmed deleting yet (a bucket that was unreachable when a thread was deleted or a job failed).
 * Thread and entry deletions add their keys in the same transaction as the deletion, so even a crash between the
 * commit and the storage call leaves a row to retry; the API's housekeeping retries what is left.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('file_deletions')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .execute();
  await db.schema.createIndex('file_deletions_created_idx').on('file_deletions').column('created_at').execute();
}
