/** The `file_deletions` table: storage keys still to delete (see migration 013). */
import { sql, type Kysely } from 'kysely';
import type { Database } from '../schema.ts';

/** Rows per statement: well inside SQLite's 32766 bound parameters and PostgreSQL's 65535. */
const CHUNK = 500;

export class FileDeletionsRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Records keys to delete; a key already recorded keeps its row. */
  async add(keys: readonly string[], now: string): Promise<void> {
    const unique = [...new Set(keys)];
    for (let i = 0; i < unique.length; i += CHUNK) {
      const values = unique.slice(i, i + CHUNK).map((key) => ({ key, created_at: now, attempts: 0, last_error: null }));
      await this.db.insertInto('file_deletions').values(values).onConflict((oc) => oc.column('key').doNothing()).execute();
    }
  }

  /** The keys waiting longest, at most `limit`. */
  async oldest(limit: number): Promise<string[]> {
    const rows = await this.db.selectFrom('file_deletions').select('key').orderBy('created_at').orderBy('key').limit(limit).execute();
    return rows.map((r) => r.key);
  }

  /** The storage deleted these keys. */
  async remove(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += CHUNK) {
      await this.db.deleteFrom('file_deletions').where('key', 'in', keys.slice(i, i + CHUNK)).execute();
    }
  }

  /** Another failed attempt on these keys. */
  async failed(keys: readonly string[], error: string): Promise<void> {
    for (let i = 0; i < keys.length; i += CHUNK) {
      await this.db
        .updateTable('file_deletions')
        .set({ attempts: sql<number>`attempts + 1`, last_error: error.slice(0, 500) })
        .where('key', 'in', keys.slice(i, i + CHUNK))
        .execute();
    }
  }

  async count(): Promise<number> {
    const row = await this.db.selectFrom('file_deletions').select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  }
}
