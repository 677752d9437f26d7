/**
 * Kysely's SQLite driver prepares every query anew (better-sqlite3 `prepare` costs ~15–20 µs, most of
 * a primary-key read). This wrapper keeps prepared statements in a bounded LRU keyed by SQL text,
 * so repeated queries skip the parse. Kysely runs one query at a time per connection, so a cached
 * statement is never used twice at once.
 *
 *   new SqliteDialect({ database: withStatementCache(sqlite) })
 */
import type { SqliteDatabase, SqliteStatement } from 'kysely';

export const STATEMENT_CACHE_SIZE = 500;

export function withStatementCache<T extends SqliteDatabase>(database: T, size = STATEMENT_CACHE_SIZE): SqliteDatabase {
  const cache = new Map<string, SqliteStatement>();
  return {
    close: () => {
      cache.clear();
      database.close();
    },
    prepare(sql: string): SqliteStatement {
      const hit = cache.get(sql);
      if (hit) {
        cache.delete(sql);
        cache.set(sql, hit);
        return hit;
      }
      const statement = database.prepare(sql);
      cache.set(sql, statement);
      if (cache.size > size) cache.delete(cache.keys().next().value as string);
      return statement;
    },
  };
}
