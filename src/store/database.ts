/**
 * Opens the store. SQLite (better-sqlite3, WAL) is the embedded default; a postgres:// URL selects
 * PostgreSQL. Everything above this module talks to Kysely, so the dialect is invisible to services.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresAdapter, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { migrationProvider } from './migrations/index.ts';
import type { Database } from './schema.ts';
import { withStatementCache } from './statement-cache.ts';

export type Dialect = 'sqlite' | 'postgres';

export interface Store {
  readonly db: Kysely<Database>;
  readonly dialect: Dialect;
  close(): Promise<void>;
}

export function isPostgresUrl(url: string): boolean {
  return url.startsWith('postgres://') || url.startsWith('postgresql://');
}

export async function openStore(url: string): Promise<Store> {
  const store = isPostgresUrl(url) ? openPostgres(url) : openSqlite(url);
  try {
    await migrate(store.db).catch(async (err) => {
      if (store.dialect !== 'postgres') throw err;
      // Processes starting together on a fresh database can race creating Kysely's own migration tables
      // (the migrations themselves run under its advisory lock); the second try sees them.
      await new Promise((r) => setTimeout(r, 250 + Math.random() * 250));
      await migrate(store.db);
    });
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
  return store;
}

/** The dialect behind a Kysely handle (or transaction), for the few queries that differ. */
export function dialectOf(db: Kysely<any>): Dialect {
  return db.getExecutor().adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite';
}

export { isUniqueViolation } from './errors.ts';

function openSqlite(url: string): Store {
  const path = url.replace(/^sqlite:/, '');
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const sqlite = new SQLite(path);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
  return { db, dialect: 'sqlite', close: () => db.destroy() };
}

/**
 * pg returns int8 (bigint: `seq`, COUNT(*)) and numeric as strings; every value this schema stores fits a
 * double, so parse them as numbers like better-sqlite3 does. Scoped to this pool (pg.types stays untouched).
 */
const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === pg.types.builtins.INT8 || oid === pg.types.builtins.NUMERIC) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format as 'text');
  },
} as pg.CustomTypesConfig;

function openPostgres(url: string): Store {
  const pool = new pg.Pool({ connectionString: url, max: Number(process.env.SDAPI_DATABASE_POOL) || 10, types: pgTypes });
  // An idle client losing its connection (server restart) must not crash the process; the pool replaces it.
  pool.on('error', () => undefined);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, dialect: 'postgres', close: () => db.destroy() };
}

async function migrate(db: Kysely<Database>): Promise<void> {
  const migrator = new Migrator({ db, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`database migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}
