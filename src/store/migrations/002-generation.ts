import type { Kysely } from 'kysely';

/** Threads, entries, jobs, credit ledger (owned by the generation service). */
export async function up(_db: Kysely<unknown>): Promise<void> {}
