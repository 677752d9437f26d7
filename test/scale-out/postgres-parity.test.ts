/**
 * PostgreSQL parity: the store-facing suites (queue, services, API, web services) run unchanged against a
 * fresh PostgreSQL database per test file (SDAPI_TEST_DIALECT=postgres, see test/helpers/scale-out.ts), once
 * with the embedded queue and the API/service suites once more with the Redis queue; plus the dialect details
 * those suites do not pin down. Skips when PostgreSQL (or, for the Redis run, Redis) is unreachable.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { Type } from '@sinclair/typebox';
import type { JobDefinitions } from '../../src/domain/jobs.ts';
import { projectRoot } from '../../src/config/project-root.ts';
import { UserService } from '../../src/services/identity/users.ts';
import { CreditService } from '../../src/services/credits/credit-service.ts';
import { dialectOf, openStore, type Store } from '../../src/store/database.ts';
import { isUniqueViolation } from '../../src/store/errors.ts';
import { DatabaseJobQueue } from '../../src/queue/database-job-queue.ts';
import { InProcessNotifier } from '../../src/queue/in-process-notifier.ts';
import { createApiContext } from '../helpers/api-context.ts';
import { createTestDatabase, postgresUnavailable, redisUnavailable, type TestDatabase } from '../helpers/scale-out.ts';

const ECHO = { echo: { version: 1, schema: Type.Object({ n: Type.Integer() }), maxAttempts: 3 } } as const satisfies JobDefinitions;

const pgDown = await postgresUnavailable();
const redisDown = await redisUnavailable();
if (pgDown) console.log(`# skipping the PostgreSQL parity tests: ${pgDown}`);

function runSuites(env: NodeJS.ProcessEnv, filters: string[]) {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete childEnv.NODE_TEST_CONTEXT; // a nested runner must report on its own, not to this test process
  const result = spawnSync(process.execPath, ['scripts/run-tests.mjs', ...filters], {
    cwd: projectRoot,
    env: childEnv,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: 540_000,
  });
  const out = `${result.stdout}${result.stderr}`;
  const summary = out.split('\n').filter((l) => /^ℹ (tests|pass|fail|skipped) /.test(l)).join(', ');
  console.log(`# ${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')} npm test -- ${filters.join(' ')}: ${summary}`);
  return { status: result.status, out, summary };
}

describe('PostgreSQL parity', { skip: pgDown ? `skipped: ${pgDown}` : false }, () => {
  it('queue, service, API and web-service suites pass on PostgreSQL (in-process wake-ups)', () => {
    const r = runSuites({ SDAPI_TEST_DIALECT: 'postgres' }, ['test/queue/', 'test/services/', 'test/api/', 'test/web/web-services']);
    assert.equal(r.status, 0, r.out.slice(-20_000));
    assert.match(r.summary, /ℹ fail 0/);
  });

  it('service and API suites pass on PostgreSQL with the Redis queue', { skip: redisDown ? `skipped: ${redisDown}` : false }, () => {
    const r = runSuites({ SDAPI_TEST_DIALECT: 'postgres', SDAPI_TEST_QUEUE: 'redis' }, ['test/services/', 'test/api/']);
    assert.equal(r.status, 0, r.out.slice(-20_000));
    assert.match(r.summary, /ℹ fail 0/);
  });

  describe('dialect details', () => {
    let database: TestDatabase;
    let store: Store;
    before(async () => {
      database = await createTestDatabase('parity');
      store = await openStore(database.url);
    });
    after(async () => {
      await store?.close();
      await database?.drop();
    });

    it('is detected as postgres; counts, bigint and integer columns come back as numbers', async () => {
      assert.equal(store.dialect, 'postgres');
      assert.equal(dialectOf(store.db), 'postgres');
      const users = new UserService(store);
      const u = await users.create('count@example.com', 'correct horse battery');
      const credits = new CreditService(store);
      assert.equal(await credits.grant(u.id, 7, 'test'), 7);
      const page = await credits.listLedger(u.id);
      assert.equal(page.total, 1);
      assert.equal(typeof page.total, 'number');
      const n = await store.db.selectFrom('users').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
      assert.equal(n.n, 1, 'COUNT(*) (int8) is parsed as a number');
    });

    it('maps a concurrent duplicate sign-up (unique violation 23505) to a conflict', async () => {
      const users = new UserService(store);
      const results = await Promise.allSettled([0, 1, 2, 3].map(() => users.create('race@example.com', 'correct horse battery')));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results.filter((r) => r.status === 'rejected')) assert.equal((r as PromiseRejectedResult).reason.code, 'conflict');
      await assert.rejects(store.db.insertInto('users').values({ id: 'dup', email: 'race@example.com', password_hash: 'x', credits: 0, created_at: 'now' }).execute(), (err) => isUniqueViolation(err));
    });

    it('enforces the CHECK constraint that keeps balances non-negative', async () => {
      await assert.rejects(store.db.insertInto('users').values({ id: 'neg', email: 'neg@example.com', password_hash: 'x', credits: -1, created_at: 'now' }).execute(), (err: any) => err.code === '23514');
    });

    it('concurrent requests on one thread get distinct entry numbers (thread row lock), each reserved once', async () => {
      const db2 = await createTestDatabase('seq');
      const ctx = await createApiContext({ env: { SDAPI_DATABASE_URL: db2.url } });
      try {
        assert.equal(ctx.store.dialect, 'postgres');
        const { token } = await ctx.user('seq@example.com', 100);
        const thread = (await ctx.request(token, { method: 'POST', url: '/api/v1/threads', payload: { ai_version_code: 'stablediffusion_text2img' } })).json().data.guid;
        const body = { engine: 'stable-diffusion-v1-6', resolution: '512x512', prompts: [{ text: 'x', weight: 1 }], steps: 10 };
        const posted = await Promise.all([...Array(8)].map(() => ctx.request(token, { method: 'POST', url: `/api/v1/threads/${thread}/entry`, payload: body })));
        assert.deepEqual(posted.map((r) => r.statusCode), Array(8).fill(201));
        const seqs = (await ctx.store.db.selectFrom('entries').select('seq').where('thread_id', '=', thread).execute()).map((r) => r.seq);
        assert.equal(new Set(seqs).size, 8, `duplicate seq: ${seqs}`);
        assert.equal(await ctx.services.credits.balance((await ctx.services.users.findByEmail('seq@example.com'))!.id), 92);
      } finally {
        await ctx.close();
        await db2.drop();
      }
    });

    it('several processes opening a fresh database at once all migrate it', async () => {
      const fresh = await createTestDatabase('migrate');
      try {
        const opened = await Promise.allSettled([0, 1, 2, 3].map(() => openStore(fresh.url)));
        for (const o of opened) if (o.status === 'fulfilled') await o.value.close();
        assert.deepEqual(opened.map((o) => (o.status === 'fulfilled' ? 'ok' : String(o.reason))), ['ok', 'ok', 'ok', 'ok']);
      } finally {
        await fresh.drop();
      }
    });

    it('claims with FOR UPDATE SKIP LOCKED: many concurrent claimers, every job once', async () => {
      const queues = [0, 1, 2, 3].map((i) => new DatabaseJobQueue({ jobs: store.repos.jobs, notifier: new InProcessNotifier(), owner: `parity:${i}`, definitions: ECHO }));
      const ids = new Set<string>();
      for (let i = 0; i < 12; i++) ids.add(await store.transaction((tx) => queues[0].enqueue(tx, { kind: 'echo', payload: { n: i } })));
      const claims = await Promise.all([...Array(20)].map((_, i) => queues[i % 4].claim()));
      const got = claims.flatMap((c) => (c ? [c.job.id] : []));
      assert.equal(got.length, 12, 'SKIP LOCKED: a claimer that meets a locked row takes the next one instead of coming back empty');
      assert.deepEqual(new Set(got), ids);
    });
  });
});
