import type { Kysely } from 'kysely';

/**
 * A version per thread that grows with every change to its entries (new entry, status, progress), so a reader can
 * tell with one primary-key read whether a list it already has is still current (the polling path's cache).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('threads')
    .addColumn('version', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
}
