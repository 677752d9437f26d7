import assert from 'node:assert/strict';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { after, before, describe, it } from 'node:test';
import { CachedApplicationService } from '../../src/services/identity/cached-applications.ts';
import { UserService } from '../../src/services/identity/users.ts';
import { steppingClock } from '../helpers/clock.ts';
import type { Store } from '../../src/store/database.ts';
import { openTestStore } from '../helpers/scale-out.ts';
import { prepareQuery } from '../../src/store/prepared-query.ts';
import { withStatementCache } from '../../src/store/statement-cache.ts';

describe('prepareQuery()', () => {
  let store: Store;
  before(async () => {
    store = await openTestStore('helpers');
    for (const [id, email] of [
      ['u1', 'a@example.com'],
      ['u2', 'b@example.com'],
    ]) {
      await store.db.insertInto('users').values({ id, email, password_hash: 'x', credits: 5, created_at: 'now' }).execute();
    }
  });
  after(() => store.close());

  it('substitutes each argument where the builder used it, keeping literal parameters', async () => {
    const q = prepareQuery(store.db, 2, (email: string, id: string) =>
      store.db.selectFrom('users').select(['id', 'email']).where('email', '=', email).where('id', '=', id).where('credits', '>=', 5),
    );
    assert.deepEqual(await q('b@example.com', 'u2'), [{ id: 'u2', email: 'b@example.com' }]);
    assert.deepEqual(await q('b@example.com', 'u1'), []);
    assert.deepEqual(await q('a@example.com', 'u1'), [{ id: 'u1', email: 'a@example.com' }]);
  });
});

describe('withStatementCache()', () => {
  it('reuses prepared statements and evicts the least recently used', async () => {
    const raw = new SQLite(':memory:');
    let prepares = 0;
    const counting = { close: () => raw.close(), prepare: (sql: string) => (prepares++, raw.prepare(sql)) };
    const db = new Kysely<{ t: { a: number } }>({ dialect: new SqliteDialect({ database: withStatementCache(counting, 2) }) });
    await db.schema.createTable('t').addColumn('a', 'integer').execute();
    await db.insertInto('t').values({ a: 1 }).execute();
    await db.insertInto('t').values({ a: 2 }).execute();
    const before = prepares;
    for (let i = 0; i < 5; i++) assert.equal((await db.selectFrom('t').select('a').where('a', '=', 2).execute()).length, 1);
    assert.equal(prepares - before, 1);
    await db.selectFrom('t').select('a').where('a', '>', 0).execute();
    await db.selectFrom('t').select('a').where('a', '<', 9).execute();
    await db.selectFrom('t').select('a').where('a', '=', 1).execute();
    assert.equal(prepares - before, 4, 'evicted statement is prepared again');
    await db.destroy();
  });
});

describe('CachedApplicationService', () => {
  let store: Store;
  before(async () => {
    store = await openTestStore('helpers');
  });
  after(() => store.close());

  it('forgets a token at once when it is revoked or its application deleted', async () => {
    const apps = new CachedApplicationService(store, { ttlMs: 60_000 });
    const user = await new UserService(store).create('cache@example.com', 'correct horse battery');
    const app = await apps.create(user.id, 'a');
    const t1 = await apps.createToken(user.id, app.id);
    const t2 = await apps.createToken(user.id, app.id);
    assert.equal((await apps.authenticate(t1.token))?.tokenId, t1.id);
    assert.equal((await apps.authenticate(t2.token))?.tokenId, t2.id);
    await apps.revokeToken(user.id, app.id, t1.id);
    assert.equal(await apps.authenticate(t1.token), undefined);
    assert.equal((await apps.authenticate(t2.token))?.tokenId, t2.id);
    await apps.delete(user.id, app.id);
    assert.equal(await apps.authenticate(t2.token), undefined);
  });

  it('sees a change made behind its back after the TTL', async () => {
    const clock = steppingClock();
    const apps = new CachedApplicationService(store, { ttlMs: 1000, clock });
    const user = await new UserService(store).create('ttl@example.com', 'correct horse battery');
    const app = await apps.create(user.id, 'a');
    const t = await apps.createToken(user.id, app.id);
    assert.ok(await apps.authenticate(t.token));
    await store.db.updateTable('api_tokens').set({ revoked_at: new Date().toISOString() }).where('id', '=', t.id).execute();
    assert.ok(await apps.authenticate(t.token), 'still cached within the TTL');
    clock.advance(1000);
    assert.equal(await apps.authenticate(t.token), undefined);
  });
});
