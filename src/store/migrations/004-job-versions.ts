import type { Kysely } from 'kysely';

/**
 * Versioned job payloads: during a rolling deploy an old worker claims only the (kind, version) pairs it knows,
 * leaving newer jobs to newer workers. Existing rows are version 1 (the shape they were written in).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('jobs')
    .addColumn('payload_version', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
  await db.schema.createIndex('jobs_pending_kind_idx').on('jobs').columns(['status', 'kind', 'payload_version', 'created_at']).execute();
}
