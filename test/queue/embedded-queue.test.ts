import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { spawnSync } from 'node:child_process';
import { after, before, beforeEach, describe, it } from 'node:test';
import { EmbeddedJobQueue } from '../../src/queue/embedded-queue.ts';
import type { Store } from '../../src/store/database.ts';
import { openTestStore } from '../helpers/scale-out.ts';

describe('EmbeddedJobQueue', () => {
  let store: Store;
  let queue: EmbeddedJobQueue;

  before(async () => {
    store = await openTestStore('queue');
  });
  after(() => store.close());
  beforeEach(async () => {
    await store.db.deleteFrom('jobs').execute();
    queue = new EmbeddedJobQueue(store.db, { leaseMs: 60_000 });
  });

  it('claim() takes the oldest pending job once, leases it and counts the attempt', async () => {
    const a = await queue.enqueue(store.db, { kind: 'generate', payload: { n: 1 } });
    await new Promise((r) => setTimeout(r, 2));
    const b = await queue.enqueue(store.db, { kind: 'generate', payload: { n: 2 } });
    const first = await queue.claim();
    assert.equal(first?.id, a);
    assert.deepEqual(first?.payload, { n: 1 });
    assert.equal(first?.attempts, 1);
    assert.equal(first?.leaseOwner, queue.owner);
    assert.equal((await queue.get(a))?.status, 'running');
    assert.equal((await queue.claim())?.id, b);
    assert.equal(await queue.claim(), undefined);
  });

  it('concurrent claims never hand out the same job twice', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) ids.add(await queue.enqueue(store.db, { kind: 'generate', payload: i }));
    const other = new EmbeddedJobQueue(store.db);
    const claims = await Promise.all([...Array(8)].map((_, i) => (i % 2 ? queue : other).claim()));
    const got = claims.filter((c) => c !== undefined).map((c) => c.id);
    assert.equal(got.length, 5);
    assert.deepEqual(new Set(got), ids);
  });

  it('an enqueue inside a rolled-back transaction leaves no job', async () => {
    await assert.rejects(
      store.db.transaction().execute(async (trx) => {
        await queue.enqueue(trx, { kind: 'generate', payload: null });
        throw new Error('rollback');
      }),
    );
    assert.equal(await queue.claim(), undefined);
  });

  it('wake() releases an idle waitForWork() at once; abort does too', async () => {
    let woke = false;
    const waiting = queue.waitForWork(600_000).then(() => (woke = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(woke, false);
    queue.wake();
    await waiting;
    assert.equal(woke, true);
    const controller = new AbortController();
    const aborted = queue.waitForWork(600_000, controller.signal);
    controller.abort();
    await aborted;
  });

  it('finish() and heartbeat() refuse once the job was cancelled; finish() is one-shot', async () => {
    await queue.enqueue(store.db, { kind: 'generate', payload: null, entryId: 'entry-1' });
    const job = (await queue.claim())!;
    assert.equal(await queue.heartbeat(job), true);
    const cancelled = await queue.cancelForEntries(store.db, ['entry-1']);
    assert.equal(cancelled.length, 1);
    assert.equal(await queue.heartbeat(job), false);
    assert.equal(await queue.finish(store.db, job, 'done'), false);

    await queue.enqueue(store.db, { kind: 'generate', payload: null });
    const second = (await queue.claim())!;
    assert.equal(await queue.finish(store.db, second, 'done'), true);
    assert.equal(await queue.finish(store.db, second, 'done'), false);
  });

  it('release() puts a job back for another attempt', async () => {
    await queue.enqueue(store.db, { kind: 'generate', payload: null });
    const job = (await queue.claim())!;
    await queue.release(job, 'shutting down');
    const again = (await queue.claim())!;
    assert.equal(again.id, job.id);
    assert.equal(again.attempts, 2);
    await queue.release(again, 'graceful shutdown', { countAttempt: false });
    assert.equal((await queue.claim())!.attempts, 2, 'a graceful release does not use up an attempt');
  });

  it('recoverStale() requeues jobs of dead processes and expired leases, not live ones', async () => {
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    const rows = [
      { id: 'dead', owner: `${hostname()}:${dead}:abcd`, expires: new Date(Date.now() + 600_000).toISOString() },
      { id: 'expired', owner: `otherhost:1:abcd`, expires: new Date(Date.now() - 1000).toISOString() },
      { id: 'live-remote', owner: `otherhost:1:abcd`, expires: new Date(Date.now() + 600_000).toISOString() },
      { id: 'live-local', owner: `${hostname()}:${process.ppid}:abcd`, expires: new Date(Date.now() + 600_000).toISOString() },
    ];
    for (const r of rows) {
      await store.db
        .insertInto('jobs')
        .values({ id: r.id, kind: 'generate', payload: 'null', status: 'running', entry_id: null, user_id: null, attempts: 1, max_attempts: 3, lease_owner: r.owner, lease_expires_at: r.expires, last_error: null, created_at: new Date().toISOString(), started_at: new Date().toISOString(), finished_at: null })
        .execute();
    }
    assert.equal(await queue.recoverStale(), 2);
    const status = Object.fromEntries((await store.db.selectFrom('jobs').select(['id', 'status']).execute()).map((r) => [r.id, r.status]));
    assert.deepEqual(status, { dead: 'pending', expired: 'pending', 'live-remote': 'running', 'live-local': 'running' });
  });
});
