/**
 * Row locks for the few read-then-write sequences that SQLite serialises by itself (one writer at a time) but
 * PostgreSQL runs concurrently. No-ops on SQLite. Lock order of every writer: thread row → job row → user row
 * (a worker finishing a job, a new request, a thread deletion), so they can wait on each other but never deadlock.
 */
import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';
import { dialectOf } from './database.ts';

/** Locks the thread row until `trx` ends, so per-thread entry numbering (max(seq) + 1) never hands out one seq twice. */
export async function lockThread(trx: Kysely<Database>, threadId: string): Promise<void> {
  if (dialectOf(trx) !== 'postgres') return;
  await trx.selectFrom('threads').select('id').where('id', '=', threadId).forUpdate().execute();
}
