/**
 * The queue with Redis wake-ups: jobs are rows in the database (PostgreSQL when reachable, else a shared SQLite
 * file), Redis only wakes workers. Each queue instance (DatabaseJobQueue + its own RedisNotifier) stands for one
 * process. Skips when Redis is down.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Type } from '@sinclair/typebox';
import { Redis } from 'ioredis';
import type { JobDefinitions } from '../../src/domain/jobs.ts';
import { DatabaseJobQueue } from '../../src/queue/database-job-queue.ts';
import { RedisNotifier } from '../../src/queue/redis-notifier.ts';
import { openStore, type Store } from '../../src/store/database.ts';
import { steppingClock } from '../helpers/clock.ts';
import { createTestDatabase, postgresUnavailable, REDIS_URL, redisPrefix, redisUnavailable, removeRedisKeys, type TestDatabase } from '../helpers/scale-out.ts';

const ECHO = { echo: { version: 1, schema: Type.Object({ n: Type.Integer() }), maxAttempts: 3 } } as const satisfies JobDefinitions;
type EchoQueue = DatabaseJobQueue<typeof ECHO> & { notifier: RedisNotifier };

const redisDown = await redisUnavailable();
if (redisDown) console.log(`# skipping the Redis queue tests: ${redisDown}`);

describe('job queue with Redis wake-ups', { skip: redisDown ? `skipped: ${redisDown}` : false }, () => {
  let store: Store;
  let database: TestDatabase | undefined;
  let dir: string | undefined;
  let prefix: string;
  const clock = steppingClock();
  const queues: EchoQueue[] = [];
  const queue = (options: { leaseMs?: number; owner?: string; url?: string } = {}): EchoQueue => {
    const notifier = new RedisNotifier({ url: options.url ?? REDIS_URL, prefix });
    const q = Object.assign(new DatabaseJobQueue({ jobs: store.repos.jobs, notifier, definitions: ECHO, leaseMs: options.leaseMs ?? 60_000, owner: options.owner, clock }), { notifier });
    queues.push(q);
    return q;
  };
  const enqueue = (q: EchoQueue, n: number) => store.transaction((tx) => q.enqueue(tx, { kind: 'echo', payload: { n } }));
  const finish = (q: EchoQueue, job: Parameters<EchoQueue['finish']>[1]) => store.transaction((tx) => q.finish(tx, job, { status: 'done' }));

  before(async () => {
    if (!(await postgresUnavailable())) {
      database = await createTestDatabase('redis_queue');
      store = await openStore(database.url);
    } else {
      dir = await mkdtemp(join(tmpdir(), 'sdapi-redis-queue-'));
      store = await openStore(`sqlite:${join(dir, 'jobs.db')}`);
    }
    console.log(`# Redis queue contract on ${store.dialect}`);
  });
  beforeEach(async () => {
    prefix = redisPrefix('queue');
    await store.db.deleteFrom('jobs').execute();
  });
  after(async () => {
    for (const q of queues) await q.close();
    await store?.close();
    await database?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
    await removeRedisKeys('sdapi-test:queue');
  });

  it('a wake-up from the API process reaches an idle worker of another process; the job is claimed exactly once', async () => {
    const api = queue();
    const workers = [queue(), queue()];
    const claimed: string[] = [];
    const stop = new AbortController();
    const woke: number[] = [];
    const loops = workers.map(async (w, i) => {
      while (!stop.signal.aborted) {
        const claim = await w.claim();
        if (claim) {
          claimed.push(`${i}:${claim.job.id}`);
          assert.equal(await finish(w, claim.job), true);
          continue;
        }
        await w.waitForWork(60_000, stop.signal);
        if (!stop.signal.aborted) woke.push(Date.now());
      }
    });
    const t0 = Date.now();
    const id = await enqueue(api, 1);
    api.wake();
    for (const deadline = Date.now() + 10_000; claimed.length === 0; ) {
      assert.ok(Date.now() < deadline, 'no worker picked the job up');
      await new Promise((r) => setTimeout(r, 5));
    }
    console.log(`# enqueue → claim across processes via Redis: ${Date.now() - t0} ms (informational)`);

    // A burst: every job claimed once, by whichever worker took the token.
    const ids = new Set([id]);
    for (let i = 0; i < 20; i++) {
      ids.add(await enqueue(api, i));
      api.wake();
    }
    for (const deadline = Date.now() + 20_000; claimed.length < ids.size; ) {
      assert.ok(Date.now() < deadline, `only ${claimed.length} of ${ids.size} jobs claimed`);
      await new Promise((r) => setTimeout(r, 10));
    }
    stop.abort();
    await Promise.all(loops);
    const jobIds = claimed.map((c) => c.split(':')[1]);
    assert.equal(jobIds.length, ids.size, 'no job claimed twice');
    assert.deepEqual(new Set(jobIds), ids);
    const rows = await store.db.selectFrom('jobs').select(['status', 'attempts']).execute();
    assert.ok(rows.every((r) => r.status === 'done' && r.attempts === 1));
    assert.ok(woke.length >= 1, 'workers were woken by Redis, not by their 60 s timeout');
  });

  it('concurrent claims from two processes never hand out the same job twice', async () => {
    const [a, b] = [queue(), queue()];
    const ids = new Set<string>();
    for (let i = 0; i < 6; i++) ids.add(await enqueue(a, i));
    const claims = await Promise.all([...Array(10)].map((_, i) => (i % 2 ? a : b).claim()));
    const got = claims.flatMap((c) => (c ? [c.job.id] : []));
    assert.equal(got.length, 6);
    assert.deepEqual(new Set(got), ids);
  });

  it('a job left running by a vanished worker is re-queued after its lease expires, and finished once by another', async () => {
    const dead = queue({ leaseMs: 300, owner: 'other-host:4242:dead:1' }); // another host: only the lease can tell
    const live = queue({ leaseMs: 60_000 });
    await enqueue(dead, 1);
    const lost = (await dead.claim())!.job;
    assert.equal(lost.attempts, 1);
    assert.equal(await live.recoverStale(), 0, 'not before the lease expires');

    // An idle worker waiting on Redis is woken by the recovery (recoverStale pushes a token).
    const waiting = queue();
    let woken = false;
    const wait = waiting.waitForWork(60_000).then(() => (woken = true));
    clock.advance(400);
    assert.equal(await live.recoverStale(), 1);
    await wait;
    assert.equal(woken, true);

    const again = (await waiting.claim())!.job;
    assert.equal(again.id, lost.id);
    assert.equal(again.attempts, 2);
    assert.equal(await dead.heartbeat(lost), false, 'the old lease is gone');
    assert.equal(await finish(dead, lost), false, 'the vanished worker cannot complete it');
    assert.equal(await finish(waiting, again), true);
    assert.equal(await finish(waiting, again), false, 'exactly once');
  });

  it('abort ends a blocked wait at once; a spare token only costs an empty claim', async () => {
    const q = queue();
    const controller = new AbortController();
    const wait = q.waitForWork(600_000, controller.signal); // a 10-minute BLPOP: only the abort can end it in time
    setTimeout(() => controller.abort(), 50);
    await wait;
    q.wake();
    await q.waitForWork(60_000); // the token is there: returns at once
    assert.equal(await q.claim(), undefined);
  });

  it('keys stay under the configured prefix', async () => {
    const q = queue();
    q.wake();
    await q.waitForWork(1000);
    q.wake();
    const redis = new Redis(REDIS_URL);
    try {
      const key = q.notifier.wakeKey;
      for (let i = 0; i < 50 && (await redis.exists(key)) === 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(await redis.exists(key), 1);
      assert.ok(key.startsWith(`${prefix}:`));
      assert.ok((await redis.pttl(key)) > 0, 'the token list expires');
    } finally {
      redis.disconnect();
    }
    await removeRedisKeys(prefix);
  });

  it('with Redis unreachable, jobs still flow through the database (workers fall back to polling)', async () => {
    const q = queue({ url: 'redis://127.0.0.1:1' });
    const id = await enqueue(q, 1);
    q.wake(); // must not throw
    await q.waitForWork(300); // resolves after the idle interval instead of throwing
    assert.equal((await q.claim())?.job.id, id);
  });
});
