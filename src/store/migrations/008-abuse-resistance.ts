import type { Kysely } from 'kysely';

/**
 * Abuse resistance and operations (issue #17):
 * - `throttle_counters`: one fixed-window counter per (scope, subject), incremented atomically by an upsert before the
 *   work it guards (login attempts per account × address, per address, per account; registrations per address).
 *   It replaces `login_failures`, which counted failures after the password check and so let parallel guesses through.
 * - `invites`: sign-up codes made by the operator, stored as SHA-256 hashes.
 * - an index on `jobs.finished_at`, for the metrics that read the jobs finished since the last scrape.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('login_failures').ifExists().execute();

  await db.schema
    .createTable('throttle_counters')
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('count', 'integer', (c) => c.notNull())
    .addColumn('window_start', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('throttle_counters_pk', ['scope', 'subject'])
    .execute();
  await db.schema.createIndex('throttle_counters_window_idx').on('throttle_counters').column('window_start').execute();

  await db.schema
    .createTable('invites')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('code_hash', 'text', (c) => c.notNull().unique())
    .addColumn('credits', 'integer')
    .addColumn('max_uses', 'integer', (c) => c.notNull())
    .addColumn('uses', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('expires_at', 'text')
    .addColumn('revoked_at', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema.createIndex('jobs_finished_idx').on('jobs').column('finished_at').execute();
}
