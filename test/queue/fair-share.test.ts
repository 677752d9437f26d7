/**
 * The fair scheduler in the claim (issue #10): weighted fair share between accounts, max_running, no banked credit
 * for an idle account, the in-memory fair order agreeing with the claims, and (PostgreSQL) concurrent claimers from
 * separate connection pools never claiming a job twice nor exceeding an account's max_running. Runs on SQLite, and
 * on PostgreSQL through test/scale-out/postgres-parity.test.ts (SDAPI_TEST_DIALECT=postgres).
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Type } from '@sinclair/typebox';
import type { JobDefinitions } from '../../src/domain/jobs.ts';
import { PRIORITY_WEIGHT, type AccountPriority } from '../../src/domain/scheduling.ts';
import { DatabaseJobQueue } from '../../src/queue/database-job-queue.ts';
import { fairOrder } from '../../src/queue/fair-order.ts';
import { InProcessNotifier } from '../../src/queue/in-process-notifier.ts';
import type { LeasedJob } from '../../src/queue/job-queue.ts';
import { openStore, type Store } from '../../src/store/database.ts';
import { steppingClock } from '../helpers/clock.ts';
import { createTestDatabase, openTestStore, testDialect, type TestDatabase } from '../helpers/scale-out.ts';

const ECHO = { echo: { version: 1, schema: Type.Object({ n: Type.Integer() }), maxAttempts: 3 } } as const satisfies JobDefinitions;

describe('fair share between accounts in the claim', () => {
  let store: Store;
  const clock = steppingClock();
  const queues: DatabaseJobQueue<typeof ECHO>[] = [];
  function queue(on: Store = store): DatabaseJobQueue<typeof ECHO> {
    const q = new DatabaseJobQueue({ jobs: on.repos.jobs, notifier: new InProcessNotifier(), definitions: ECHO, leaseMs: 60_000, clock });
    queues.push(q);
    return q;
  }
  async function account(id: string, settings: { priority?: AccountPriority; max_running?: number } = {}): Promise<string> {
    await store.db.insertInto('users').values({ id, email: `${id}@example.com`, password_hash: 'x', credits: 0, created_at: clock().toISOString(), ...settings }).execute();
    return id;
  }
  /** Queues `count` jobs for the account; returns their ids. */
  async function enqueue(q: DatabaseJobQueue<typeof ECHO>, userId: string, count: number, cost = 10): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) ids.push(await store.transaction((tx) => q.enqueue(tx, { kind: 'echo', payload: { n: i }, userId, cost })));
    return ids;
  }
  /** One worker: claim, finish, repeat; returns the accounts of the jobs it started, in order. */
  async function drain(q: DatabaseJobQueue<typeof ECHO>, limit = 1000): Promise<{ users: string[]; ids: string[] }> {
    const users: string[] = [];
    const ids: string[] = [];
    for (let i = 0; i < limit; i++) {
      const claim = await q.claim();
      if (!claim) break;
      users.push(claim.job.userId ?? '-');
      ids.push(claim.job.id);
      await store.transaction((tx) => q.finish(tx, claim.job, { status: 'done' }));
    }
    return { users, ids };
  }

  before(async () => {
    store = await openTestStore('fair');
  });
  after(async () => {
    for (const q of queues) await q.close();
    await store.close();
  });
  beforeEach(async () => {
    await store.db.deleteFrom('jobs').execute();
    await store.db.deleteFrom('fair_share').execute();
    await store.db.deleteFrom('users').execute();
  });

  it('one worker: a light account queued behind 8 long jobs of a heavy one starts before the heavy one\'s third (FIFO would make it ninth)', async () => {
    const q = queue();
    const heavy = await account('heavy', { max_running: 8 });
    const light = await account('light');
    await enqueue(q, heavy, 8, 40);
    const [short] = await enqueue(q, light, 1, 1);
    const { users, ids } = await drain(q);
    assert.equal(ids.length, 9);
    assert.ok(ids.indexOf(short) < 2, `the light request started ${ids.indexOf(short) + 1}th: ${users.join(' ')}`);
    assert.deepEqual(users, ['heavy', 'light', 'heavy', 'heavy', 'heavy', 'heavy', 'heavy', 'heavy', 'heavy']);
  });

  it('with every account backlogged, starts follow the weights: high gets 2× normal, normal 2× low (equal costs)', async () => {
    const q = queue();
    const high = await account('high', { priority: 'high' });
    const normal = await account('normal');
    const low = await account('low', { priority: 'low' });
    for (const id of [high, normal, low]) await enqueue(q, id, 80);
    const { users } = await drain(q, 70);
    const starts = (id: string) => users.filter((u) => u === id).length;
    assert.equal(users.length, 70);
    const ratio = starts(high) / starts(normal);
    assert.ok(ratio >= 1.6 && ratio <= 2.5, `high ${starts(high)} vs normal ${starts(normal)} starts (ratio ${ratio.toFixed(2)})`);
    const lowRatio = starts(normal) / starts(low);
    assert.ok(lowRatio >= 1.6 && lowRatio <= 2.5, `normal ${starts(normal)} vs low ${starts(low)} starts`);
    assert.deepEqual([starts(high), starts(normal), starts(low)], [40, 20, 10]);
  });

  it('costs count: an account of cheap jobs gets proportionally more starts than one of expensive jobs', async () => {
    const q = queue();
    const cheap = await account('cheap');
    const dear = await account('dear');
    await enqueue(q, cheap, 60, 5);
    await enqueue(q, dear, 60, 20);
    const { users } = await drain(q, 50);
    assert.equal(users.filter((u) => u === 'cheap').length, 40);
    assert.equal(users.filter((u) => u === 'dear').length, 10);
  });

  it('max_running: an account with that many jobs running gets no more until one finishes; other accounts still do', async () => {
    const q = queue();
    const capped = await account('capped', { max_running: 2 });
    await enqueue(q, capped, 5);
    const first = await q.claim();
    const second = await q.claim();
    assert.ok(first && second);
    assert.equal(await q.claim(), undefined, 'the third job waits: two are running');
    const other = await account('other');
    await enqueue(q, other, 1);
    assert.equal((await q.claim())?.job.userId, other);
    await store.transaction((tx) => q.finish(tx, first.job, { status: 'done' }));
    assert.equal((await q.claim())?.job.userId, capped);
    assert.equal(await q.claim(), undefined);
  });

  it('an account returning after being idle gets its fair turn, not a burst for the time it was away', async () => {
    const q = queue();
    const early = await account('early');
    const busy = await account('busy');
    await enqueue(q, early, 4);
    await drain(q);
    await enqueue(q, busy, 20);
    await drain(q);
    // `early` has a far lower virtual time than `busy`, but it was idle: it starts at the scheduler clock.
    await enqueue(q, busy, 6);
    await enqueue(q, early, 6);
    const { users } = await drain(q);
    assert.deepEqual(users, ['early', 'busy', 'early', 'busy', 'early', 'busy', 'early', 'busy', 'early', 'busy', 'early', 'busy']);
  });

  it('the in-memory fair order (queue positions) is the order the claims take', async () => {
    const q = queue();
    const priorities: AccountPriority[] = ['high', 'normal', 'low', 'normal'];
    const ids = await Promise.all(priorities.map((p, i) => account(`acct${i}`, { priority: p, max_running: 100 })));
    // A history first, so the accounts start from different virtual times.
    await enqueue(q, ids[0], 3, 7);
    await enqueue(q, ids[1], 2, 3);
    await drain(q);
    let n = 0;
    for (const round of [0, 1, 2, 3, 4, 5]) {
      for (const [i, id] of ids.entries()) {
        if ((round + i) % 3 !== 2) await enqueue(q, id, 1 + ((n++ * 7) % 3), 1 + ((n * 13) % 17));
      }
    }
    const pending = await store.db.selectFrom('jobs').select(['id', 'user_id', 'cost', 'created_at']).where('status', '=', 'pending').execute();
    const shares = await store.db.selectFrom('fair_share as f').innerJoin('users as u', 'u.id', 'f.user_id').select(['f.user_id', 'f.vtime', 'u.priority']).execute();
    const latest = await store.db.selectFrom('jobs').select('vstart').where('vstart', 'is not', null).orderBy('started_at', 'desc').limit(1).executeTakeFirstOrThrow();
    const predicted = fairOrder({
      pending: pending.map((p) => ({ id: p.id, userId: p.user_id, cost: Number(p.cost), createdAt: p.created_at })),
      accounts: new Map(shares.map((s) => [s.user_id, { vtime: Number(s.vtime), weight: PRIORITY_WEIGHT[s.priority] }])),
      clock: Number(latest.vstart),
    });
    const { ids: claimed } = await drain(q);
    assert.equal(claimed.length, pending.length);
    assert.deepEqual(claimed, predicted);
    // A single position is the same index, computed only up to that job.
    const target = predicted[17];
    assert.equal(fairOrder({ pending: pending.map((p) => ({ id: p.id, userId: p.user_id, cost: Number(p.cost), createdAt: p.created_at })), accounts: new Map(), clock: 0 }, target).at(-1), target);
  });

  it('jobs of no account are still claimed (after every account\'s claimable job)', async () => {
    const q = queue();
    const someone = await account('someone', { max_running: 1 });
    const system = await store.transaction((tx) => q.enqueue(tx, { kind: 'echo', payload: { n: 0 } }));
    await enqueue(q, someone, 2);
    assert.equal((await q.claim())?.job.userId, someone);
    assert.equal((await q.claim())?.job.id, system, 'the account is at max_running: the unowned job goes next');
    assert.equal(await q.claim(), undefined);
  });

  describe('concurrent claimers on separate connection pools (PostgreSQL: FOR UPDATE SKIP LOCKED)', { skip: testDialect() !== 'postgres' ? 'PostgreSQL only (SDAPI_TEST_DIALECT=postgres)' : false }, () => {
    let database: TestDatabase;
    const stores: Store[] = [];
    before(async () => {
      database = await createTestDatabase('fair_race');
      for (let i = 0; i < 3; i++) stores.push(await openStore(database.url, { poolSize: 4 }));
    });
    after(async () => {
      for (const s of stores) await s.close();
      await database?.drop();
    });

    it('24 concurrent claim loops never claim a job twice nor run an account past max_running', async () => {
      const [admin] = stores;
      const caps: Record<string, number> = { a: 3, b: 1, c: 2, d: 5 };
      for (const [id, max] of Object.entries(caps)) {
        await admin.db.insertInto('users').values({ id, email: `${id}@example.com`, password_hash: 'x', credits: 0, created_at: clock().toISOString(), max_running: max }).execute();
      }
      const producer = new DatabaseJobQueue({ jobs: admin.repos.jobs, notifier: new InProcessNotifier(), definitions: ECHO, clock });
      queues.push(producer);
      for (const id of Object.keys(caps)) for (let i = 0; i < 8; i++) await admin.transaction((tx) => producer.enqueue(tx, { kind: 'echo', payload: { n: i }, userId: id }));
      const claimers = stores.flatMap((s) => Array.from({ length: 8 }, () => new DatabaseJobQueue({ jobs: s.repos.jobs, notifier: new InProcessNotifier(), definitions: ECHO, clock })));
      queues.push(...claimers);
      const claimed: LeasedJob[] = [];
      await Promise.all(
        claimers.map(async (q) => {
          for (;;) {
            const claim = await q.claim();
            if (!claim) return;
            claimed.push(claim.job);
          }
        }),
      );
      assert.equal(new Set(claimed.map((j) => j.id)).size, claimed.length, 'no job claimed twice');
      const running = await admin.db.selectFrom('jobs').select(['user_id']).where('status', '=', 'running').execute();
      for (const [id, max] of Object.entries(caps)) {
        assert.equal(running.filter((r) => r.user_id === id).length, max, `account ${id} runs exactly its max_running`);
        assert.equal(claimed.filter((j) => j.userId === id).length, max);
      }
    });
  });
});
