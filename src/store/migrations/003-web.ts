import type { Kysely } from 'kysely';

/** Browser sessions, login throttling (owned by the web/account service). */
export async function up(_db: Kysely<unknown>): Promise<void> {}
