import type { Kysely } from 'kysely';

/**
 * Follow and cancel (issue #9):
 * - `entry_events`: the lifecycle events of request entries, numbered per thread (`seq`), kept about 15 minutes so a
 *   reconnecting event-stream client can replay what it missed (Last-Event-ID). Progress and previews keep only the
 *   latest row per entry.
 * - `jobs.cancel_requested_at`: a client asked to cancel a running job; its worker stops at the next denoising step
 *   (told at once through the event transport, and by this column when a message is lost or the worker restarted).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('entry_events')
    .addColumn('thread_id', 'text', (c) => c.notNull())
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('entry_id', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('data', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('entry_events_pk', ['thread_id', 'seq'])
    .execute();
  await db.schema.createIndex('entry_events_created_idx').on('entry_events').column('created_at').execute();
  await db.schema.createIndex('entry_events_entry_idx').on('entry_events').columns(['entry_id', 'type']).execute();

  await db.schema.alterTable('jobs').addColumn('cancel_requested_at', 'text').execute();
}
