/**
 * Test access to the scale-out services. PostgreSQL: SDAPI_TEST_POSTGRES_URL, else
 * postgres://postgres@127.0.0.1:5432/postgres; each caller gets a fresh uniquely named database, dropped
 * afterwards. Redis: SDAPI_TEST_REDIS_URL, else redis://127.0.0.1:6379; each caller gets a unique key prefix.
 * `SDAPI_TEST_DIALECT=postgres` makes openTestStore()/createApiContext() use PostgreSQL instead of SQLite, and
 * `SDAPI_TEST_QUEUE=redis` the Redis queue (test/scale-out/postgres-parity.test.ts runs the suites that way).
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { openStore, type Store } from '../../src/store/database.ts';

export const POSTGRES_ADMIN_URL = process.env.SDAPI_TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.SDAPI_TEST_REDIS_URL || 'redis://127.0.0.1:6379';

/** Undefined when PostgreSQL answers, else why not (for the skip message). */
export async function postgresUnavailable(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (err) {
    return `PostgreSQL unreachable at ${POSTGRES_ADMIN_URL} (${(err as Error).message}); set SDAPI_TEST_POSTGRES_URL`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function redisUnavailable(): Promise<string | undefined> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.ping();
    return undefined;
  } catch (err) {
    return `Redis unreachable at ${REDIS_URL} (${(err as Error).message}); set SDAPI_TEST_REDIS_URL`;
  } finally {
    redis.disconnect();
  }
}

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A fresh, empty database `sdapi_test_<label>_<random>` on the test server. */
export async function createTestDatabase(label = 'db'): Promise<TestDatabase> {
  const name = `sdapi_test_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase().slice(0, 20)}_${randomBytes(5).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE "${name}"`));
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.toString(),
    name,
    async drop() {
      if (dropped) return;
      dropped = true;
      await admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}

export function testDialect(): 'sqlite' | 'postgres' {
  return process.env.SDAPI_TEST_DIALECT === 'postgres' ? 'postgres' : 'sqlite';
}

/** A unique Redis key prefix; removeKeys() deletes every key under it. */
export function redisPrefix(label = 'test'): string {
  return `sdapi-test:${label}:${randomBytes(5).toString('hex')}`;
}

export async function removeRedisKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  try {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    if (keys.length) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}

/**
 * The store a store-level test runs on: in-memory SQLite by default, a fresh PostgreSQL database when
 * SDAPI_TEST_DIALECT=postgres (dropped by close()).
 */
export async function openTestStore(label = 'store'): Promise<Store> {
  if (testDialect() === 'sqlite') return openStore('sqlite::memory:');
  const database = await createTestDatabase(label);
  let store: Store;
  try {
    store = await openStore(database.url);
  } catch (err) {
    await database.drop();
    throw err;
  }
  return {
    ...store,
    async close() {
      try {
        await store.close();
      } finally {
        await database.drop();
      }
    },
  };
}

/**
 * Environment overrides for createApiContext(): SDAPI_DATABASE_URL of a fresh database under
 * SDAPI_TEST_DIALECT=postgres, SDAPI_QUEUE_URL/PREFIX under SDAPI_TEST_QUEUE=redis; cleanup() removes both.
 */
export async function testServiceEnv(label: string): Promise<{ env: NodeJS.ProcessEnv; cleanup(): Promise<void> }> {
  const env: NodeJS.ProcessEnv = {};
  const cleanups: (() => Promise<void>)[] = [];
  if (testDialect() === 'postgres') {
    const database = await createTestDatabase(label);
    env.SDAPI_DATABASE_URL = database.url;
    cleanups.push(() => database.drop());
  }
  if (process.env.SDAPI_TEST_QUEUE === 'redis') {
    const prefix = redisPrefix(label);
    env.SDAPI_QUEUE_URL = REDIS_URL;
    env.SDAPI_QUEUE_PREFIX = prefix;
    cleanups.push(() => removeRedisKeys(prefix));
  }
  return {
    env,
    async cleanup() {
      for (const c of cleanups) await c().catch(() => undefined);
    },
  };
}
