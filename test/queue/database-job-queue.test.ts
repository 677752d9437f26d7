import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Type } from '@sinclair/typebox';
import type { JobDefinitions } from '../../src/domain/jobs.ts';
import { DatabaseJobQueue } from '../../src/queue/database-job-queue.ts';
import { InProcessNotifier } from '../../src/queue/in-process-notifier.ts';
import { checkHandlerTable } from '../../src/queue/job-handler.ts';
import type { Claim } from '../../src/queue/job-queue.ts';
import { newLeaseOwner } from '../../src/queue/lease-owner.ts';
import type { Store } from '../../src/store/database.ts';
import { steppingClock } from '../helpers/clock.ts';
import { openTestStore } from '../helpers/scale-out.ts';

/** A job table of its own, so the queue is tested apart from the service's jobs. */
const ECHO_V1 = Type.Object({ n: Type.Integer() });
const ECHO_V2 = Type.Object({ n: Type.Integer(), label: Type.String() });
const V1 = { echo: { version: 1, schema: ECHO_V1, maxAttempts: 3 } } as const satisfies JobDefinitions;
const V2 = {
  echo: { version: 2, schema: ECHO_V2, maxAttempts: 3, legacy: [{ version: 1, schema: ECHO_V1, upgrade: (old: unknown) => ({ n: Number(Reflect.get(Object(old), 'n')), label: 'upgraded' }) }] },
} as const satisfies JobDefinitions;
const V2_ONLY = { echo: { version: 2, schema: ECHO_V2, maxAttempts: 3 } } as const satisfies JobDefinitions;

function payloadOf<D extends JobDefinitions>(claim: Claim<D> | undefined): unknown {
  assert.ok(claim && claim.invalid === undefined, `a readable job: ${JSON.stringify(claim)}`);
  return claim.job.payload;
}

describe('DatabaseJobQueue', () => {
  let store: Store;
  const clock = steppingClock();
  const queues: { close(): Promise<void> }[] = [];
  function queue<D extends JobDefinitions>(definitions: D, options: { leaseMs?: number; owner?: string } = {}): DatabaseJobQueue<D> {
    const q = new DatabaseJobQueue({ jobs: store.repos.jobs, notifier: new InProcessNotifier(), definitions, leaseMs: 60_000, clock, ...options });
    queues.push(q);
    return q;
  }
  const enqueue = (q: DatabaseJobQueue<typeof V1>, n: number, entryId?: string) => store.transaction((tx) => q.enqueue(tx, { kind: 'echo', payload: { n }, entryId, userId: entryId ? 'u1' : undefined }));

  before(async () => {
    store = await openTestStore('queue');
  });
  after(async () => {
    for (const q of queues) await q.close();
    await store.close();
  });
  beforeEach(async () => {
    await store.db.deleteFrom('jobs').execute();
  });

  it('claim() takes the oldest pending job once, leases it, counts the attempt and types the payload', async () => {
    const q = queue(V1);
    const a = await enqueue(q, 1);
    const b = await enqueue(q, 2);
    const first = await q.claim();
    assert.equal(first?.job.id, a);
    assert.deepEqual(payloadOf(first), { n: 1 });
    assert.equal(first?.job.attempts, 1);
    assert.equal(first?.job.version, 1);
    assert.equal(first?.job.leaseOwner, q.owner);
    assert.equal((await q.get(a))?.status, 'running');
    assert.equal((await q.claim())?.job.id, b);
    assert.equal(await q.claim(), undefined);
  });

  it('concurrent claims never hand out the same job twice', async () => {
    const q = queue(V1);
    const other = queue(V1);
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) ids.add(await enqueue(q, i));
    const claims = await Promise.all([...Array(8)].map((_, i) => (i % 2 ? q : other).claim()));
    const got = claims.flatMap((c) => (c ? [c.job.id] : []));
    assert.equal(got.length, 5);
    assert.deepEqual(new Set(got), ids);
  });

  it('routing: a claim for some engines takes only their jobs (and jobs that need none), oldest first, in one query', async () => {
    const q = queue(V1);
    const job = (n: number, engine?: string) => store.transaction((tx) => q.enqueue(tx, { kind: 'echo', payload: { n }, engine }));
    const xl = await job(1, 'sdxl');
    const any = await job(2);
    const sd15a = await job(3, 'sd15');
    const sd15b = await job(4, 'sd15');
    assert.deepEqual(Object.fromEntries(await store.repos.jobs.pendingByEngine()), { sdxl: 1, sd15: 2 });
    assert.equal((await q.claim({ engines: ['sd15', 'turbo'] }))?.job.id, any, 'a job without an engine is anyone’s');
    assert.equal((await q.claim({ engines: ['sd15'] }))?.job.id, sd15a);
    assert.equal((await q.claim({ engines: [] }))?.job.id, undefined, 'a worker serving nothing takes only engine-less jobs');
    assert.equal((await q.claim({ engines: ['sd15'] }))?.job.id, sd15b);
    assert.equal(await q.claim({ engines: ['sd15'] }), undefined, 'never the other engine’s job');
    assert.deepEqual(Object.fromEntries(await store.repos.jobs.pendingByEngine()), { sdxl: 1 });
    assert.equal((await q.claim())?.job.id, xl, 'an unrouted claim takes any engine');
  });

  it('finishPending() ends a job nobody claimed, once; a claimed job is left to its worker', async () => {
    const q = queue(V1);
    const a = await store.transaction((tx) => q.enqueue(tx, { kind: 'echo', payload: { n: 1 }, engine: 'e' }));
    const b = await store.transaction((tx) => q.enqueue(tx, { kind: 'echo', payload: { n: 2 }, engine: 'e' }));
    assert.equal(await store.transaction((tx) => q.finishPending(tx, a, { status: 'failed', error: 'expired' })), true);
    assert.equal(await store.transaction((tx) => q.finishPending(tx, a, { status: 'failed', error: 'expired' })), false);
    assert.equal((await q.get(a))?.status, 'failed');
    assert.equal((await q.claim())?.job.id, b);
    assert.equal(await store.transaction((tx) => q.finishPending(tx, b, { status: 'failed', error: 'expired' })), false);
    assert.equal((await q.get(b))?.status, 'running');
  });

  it('an enqueue inside a rolled-back transaction leaves no job', async () => {
    const q = queue(V1);
    await assert.rejects(
      store.transaction(async (tx) => {
        await q.enqueue(tx, { kind: 'echo', payload: { n: 1 } });
        throw new Error('rollback');
      }),
    );
    assert.equal(await q.claim(), undefined);
  });

  it('wake() releases an idle waitForWork() at once, and a wake with nobody waiting is kept for the next wait; abort ends a wait', async () => {
    const q = queue(V1);
    let woke = false;
    const waiting = q.waitForWork(600_000).then(() => (woke = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(woke, false);
    q.wake();
    await waiting;
    assert.equal(woke, true);
    q.wake();
    await q.waitForWork(600_000); // returns at once: the wake came while nobody waited
    const controller = new AbortController();
    const aborted = q.waitForWork(600_000, controller.signal);
    controller.abort();
    await aborted;
  });

  it('finish() and heartbeat() refuse once the job was cancelled; finish() is one-shot', async () => {
    const q = queue(V1);
    await enqueue(q, 1, 'entry-1');
    const job = (await q.claim())!.job;
    assert.equal(await q.heartbeat(job), true);
    const cancelled = await store.transaction((tx) => q.cancelForEntries(tx, 'u1', ['entry-1']));
    assert.deepEqual(cancelled, ['entry-1']);
    assert.equal(await q.heartbeat(job), false);
    assert.equal(await store.transaction((tx) => q.finish(tx, job, { status: 'done' })), false);

    await enqueue(q, 2);
    const second = (await q.claim())!.job;
    assert.equal(await store.transaction((tx) => q.finish(tx, second, { status: 'done' })), true);
    assert.equal(await store.transaction((tx) => q.finish(tx, second, { status: 'done' })), false);
  });

  it("cancelForEntries() leaves another user's jobs alone", async () => {
    const q = queue(V1);
    await enqueue(q, 1, 'entry-1');
    assert.deepEqual(await store.transaction((tx) => q.cancelForEntries(tx, 'someone-else', ['entry-1'])), []);
    assert.equal((await q.claim())?.job.entryId, 'entry-1');
  });

  it('release() puts a job back for another attempt; a graceful release gives the attempt back', async () => {
    const q = queue(V1);
    await enqueue(q, 1);
    const job = (await q.claim())!.job;
    await q.release(job, { error: 'shutting down' });
    const again = (await q.claim())!.job;
    assert.equal(again.id, job.id);
    assert.equal(again.attempts, 2);
    await q.release(again, { error: 'graceful shutdown', countAttempt: false });
    assert.equal((await q.claim())!.job.attempts, 2, 'a graceful release does not use up an attempt');
  });

  it('recoverStale() requeues jobs of dead processes, of an earlier life of this pid and with expired leases, not live ones', async () => {
    const q = queue(V1);
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    const now = clock().getTime();
    const rows = [
      { id: 'dead', owner: `${hostname()}:${dead}:abcd:1`, expires: now + 600_000 },
      { id: 'earlier-life', owner: `${hostname()}:${process.pid}:0ldb00t0:1`, expires: now + 600_000 },
      { id: 'expired', owner: `otherhost:1:abcd:1`, expires: now - 1000 },
      { id: 'live-remote', owner: `otherhost:1:abcd:1`, expires: now + 600_000 },
      { id: 'live-local', owner: `${hostname()}:${process.ppid}:abcd:1`, expires: now + 600_000 },
    ];
    for (const r of rows) {
      await store.db
        .insertInto('jobs')
        .values({ id: r.id, kind: 'echo', payload_version: 1, payload: '{"n":1}', status: 'running', entry_id: null, user_id: null, attempts: 1, max_attempts: 3, lease_owner: r.owner, lease_expires_at: new Date(r.expires).toISOString(), last_error: null, created_at: new Date(now).toISOString(), started_at: new Date(now).toISOString(), finished_at: null })
        .execute();
    }
    assert.equal(await q.recoverStale(), 3);
    const status = Object.fromEntries((await store.db.selectFrom('jobs').select(['id', 'status']).execute()).map((r) => [r.id, r.status]));
    assert.deepEqual(status, { dead: 'pending', 'earlier-life': 'pending', expired: 'pending', 'live-remote': 'running', 'live-local': 'running' });
  });

  it('a job leased by another live queue of this same process is not treated as dead', async () => {
    const holder = queue(V1);
    const recoverer = queue(V1);
    assert.notEqual(holder.owner, recoverer.owner);
    assert.match(newLeaseOwner(), new RegExp(`^${hostname()}:${process.pid}:[0-9a-f]{8}:\\d+$`));
    await enqueue(holder, 1);
    const job = (await holder.claim())!.job;
    assert.equal(await recoverer.recoverStale(), 0, 'the lease is live: same pid, same boot');
    assert.equal(await holder.heartbeat(job), true);
  });

  it('during a rolling deploy an old worker leaves a newer payload version to a newer worker, which also upgrades old payloads', async () => {
    const oldWorker = queue(V1);
    const newWorker = queue(V2);
    const newOnly = queue(V2_ONLY);
    const v2 = await store.transaction((tx) => newWorker.enqueue(tx, { kind: 'echo', payload: { n: 2, label: 'new' } }));
    const v1 = await enqueue(oldWorker, 1);
    assert.equal((await newOnly.claim())?.job.id, v2, 'a worker that knows only v2 takes the v2 job…');
    assert.equal(await newOnly.claim(), undefined, '…and leaves the v1 job');
    await store.db.updateTable('jobs').set({ status: 'pending', lease_owner: null }).where('id', '=', v2).execute();
    const old = await oldWorker.claim();
    assert.equal(old?.job.id, v1, 'the old worker takes only the v1 job');
    assert.equal(await oldWorker.claim(), undefined, 'and leaves the v2 job pending, not failed');
    assert.equal((await oldWorker.get(v2))?.status, 'pending');
    await store.db.updateTable('jobs').set({ status: 'pending', lease_owner: null }).where('id', '=', v1).execute();
    const payloads = [payloadOf(await newWorker.claim()), payloadOf(await newWorker.claim())];
    assert.deepEqual(payloads.sort((a, b) => Number(Reflect.get(Object(a), 'n')) - Number(Reflect.get(Object(b), 'n'))), [
      { n: 1, label: 'upgraded' },
      { n: 2, label: 'new' },
    ]);
  });

  it('a payload that fails its schema is claimed as invalid with the reason, not thrown', async () => {
    const q = queue(V1);
    await store.transaction((tx) => q.enqueue(tx, { kind: 'echo', payload: { n: 1 } }));
    await store.db.updateTable('jobs').set({ payload: '{"n":"one"}' }).execute();
    const claim = await q.claim();
    assert.ok(claim?.invalid);
    assert.match(claim.invalid, /\/n Expected integer/);
    await store.db.updateTable('jobs').set({ status: 'pending', payload: 'not json' }).execute();
    assert.match((await q.claim())?.invalid ?? '', /not valid JSON/);
  });

  it('checkHandlerTable() refuses a missing handler, an unknown kind and a handler without run()', () => {
    const handler = { run: async () => 'done' as const, reject: async () => undefined };
    assert.doesNotThrow(() => checkHandlerTable(V1, { echo: handler }));
    assert.throws(() => checkHandlerTable(V1, {}), /no handler for job kind "echo"/);
    assert.throws(() => checkHandlerTable(V1, { echo: handler, resize: handler }), /unknown job kind "resize"/);
    assert.throws(() => checkHandlerTable(V1, { echo: { reject: handler.reject } }), /lacks run\(\)/);
  });
});
