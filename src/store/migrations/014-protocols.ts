import type { Kysely } from 'kysely';

/**
 * Compatibility surfaces (issue #11: the OpenAI Images API under /v1, AUTOMATIC1111's under /sdapi/v1):
 * - `protocol_threads`: the one thread per account and protocol that its requests are written to (a deleted thread
 *   goes with its row, and the next request opens a new one);
 * - `protocol_requests`: what a repeated request (an SDK's automatic retry, sent without an idempotency key) maps to:
 *   per token, the SHA-256 of the protocol and body, and the request entry it created (gone with the entry).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('protocol_threads')
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('protocol', 'text', (c) => c.notNull())
    .addColumn('thread_id', 'text', (c) => c.notNull().references('threads.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('protocol_threads_pk', ['user_id', 'protocol'])
    .execute();

  await db.schema
    .createTable('protocol_requests')
    .addColumn('token_id', 'text', (c) => c.notNull())
    .addColumn('fingerprint', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('entry_id', 'text', (c) => c.notNull().references('entries.id').onDelete('cascade'))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('protocol_requests_pk', ['token_id', 'fingerprint'])
    .execute();
  await db.schema.createIndex('protocol_requests_created_idx').on('protocol_requests').column('created_at').execute();
}
