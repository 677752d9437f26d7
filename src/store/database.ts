/**
 * Opens the store. SQLite (better-sqlite3, WAL) is the embedded default; a postgres:// URL selects
 * PostgreSQL. Services see only the repositories (src/store/repositories), so the dialect is invisible to them.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresAdapter, PostgresDialect, SqliteDialect } from 'kysely';
import type pg from 'pg';
import { migrationProvider } from './migrations/index.ts';
import { createRepositories, type Repositories } from './repositories/repositories.ts';
import type { Database } from './schema.ts';
import type { Dialect } from './dialect.ts';
import type { DirectSqlite } from './prepared-query.ts';
import { withStatementCache } from './statement-cache.ts';

export type { Dialect } from './dialect.ts';

/** What services get: repositories for single statements, and transactions over a fresh set of them. */
export interface DataStore {
  readonly repos: Repositories;
  /** Runs `work` in one transaction: everything it writes through `tx` commits together or not at all. */
  transaction<T>(work: (tx: Repositories) => Promise<T>): Promise<T>;
}

export interface Store extends DataStore {
  /** The Kysely handle, for migrations, tests and diagnostics; services and routes use the repositories. */
  readonly db: Kysely<Database>;
  readonly dialect: Dialect;
  close(): Promise<void>;
}

export interface StoreOptions {
  /** PostgreSQL connections in the pool (default 10). */
  poolSize?: number;
}

export function isPostgresUrl(url: string): boolean {
  return url.startsWith('postgres://') || url.startsWith('postgresql://');
}

export async function openStore(url: string, options: StoreOptions = {}): Promise<Store> {
  const store = isPostgresUrl(url) ? await openPostgres(url, options.poolSize ?? 10) : openSqlite(url);
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
export function dialectOf<DB>(db: Kysely<DB>): Dialect {
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
  const connection = withStatementCache(sqlite);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: connection }) });
  return storeOver(db, 'sqlite', connection);
}

/**
 * pg returns int8 (bigint: `seq`, COUNT(*)) and numeric as strings; every value this schema stores fits a
 * double, so parse them as numbers like better-sqlite3 does. Scoped to this pool (pg.types stays untouched).
 */
function numericTypes(types: typeof pg.types): pg.CustomTypesConfig {
  return {
    getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
      if (oid === types.builtins.INT8 || oid === types.builtins.NUMERIC) return (value: string) => Number(value);
      return types.getTypeParser(oid, format === 'binary' ? 'binary' : 'text');
    }) as pg.CustomTypesConfig['getTypeParser'],
  };
}

/** pg is loaded only for a postgres:// URL, so the embedded default does not pay for it. */
async function openPostgres(url: string, poolSize: number): Promise<Store> {
  const { default: driver } = await import('pg');
  const pool = new driver.Pool({ connectionString: url, max: poolSize, types: numericTypes(driver.types) });
  // An idle client losing its connection (server restart) must not crash the process; the pool replaces it.
  pool.on('error', () => undefined);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return storeOver(db, 'postgres');
}

/** `direct`: the SQLite connection, for the prepared hot-path reads of the repositories outside transactions. */
function storeOver(db: Kysely<Database>, dialect: Dialect, direct?: DirectSqlite): Store {
  return {
    db,
    dialect,
    repos: createRepositories(db, dialect, { direct }),
    transaction: (work) => db.transaction().execute((trx) => work(createRepositories(trx, dialect))),
    close: () => db.destroy(),
  };
}

async function migrate(db: Kysely<Database>): Promise<void> {
  // Branches land out of number order (a database may have run 013 before 012 exists): each migration is independent.
  const migrator = new Migrator({ db, provider: migrationProvider, allowUnorderedMigrations: true });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`database migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}
