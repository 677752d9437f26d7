/**
 * Claim time of the fair scheduler (issue #10): p50 and p99 of DatabaseJobQueue.claim() with a steady backlog of
 * pending `generate` jobs spread over many accounts (mixed priorities and costs), on SQLite (a WAL file, as
 * deployed) and on PostgreSQL. Each timed claim is followed, untimed, by finishing the oldest of the jobs held
 * "running" (a fleet of --running busy slots) and queueing a replacement job for the same account, so the backlog
 * and the running set stay the same size throughout. Goal: p99 ≤ 5 ms with 10,000 pending jobs from 100 accounts.
 * PostgreSQL also runs --contended claimers at once (separate pools, like worker processes) to show SKIP LOCKED
 * keeping them from waiting on each other.
 *
 *   npm run bench:claim [-- --jobs 10000 --accounts 100 --idle 0 --claims 2000 --running 8 --contended 4 --dialects sqlite,postgres]
 *
 * --idle N adds N accounts that once queued work and wait for nothing now: the claim walks their scheduler rows too.
 *
 * PostgreSQL: SDAPI_TEST_POSTGRES_URL or postgres://postgres@127.0.0.1:5432/postgres (a scratch database is created
 * and dropped); skipped when it does not answer.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { JOB_DEFINITIONS } from '../src/domain/jobs.ts';
import { ACCOUNT_PRIORITIES } from '../src/domain/scheduling.ts';
import { DatabaseJobQueue } from '../src/queue/database-job-queue.ts';
import { InProcessNotifier } from '../src/queue/in-process-notifier.ts';
import type { LeasedJob } from '../src/queue/job-queue.ts';
import { openStore, type Store } from '../src/store/database.ts';
import { createTestDatabase, postgresUnavailable } from '../test/helpers/scale-out.ts';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '10000' },
    accounts: { type: 'string', default: '100' },
    claims: { type: 'string', default: '2000' },
    running: { type: 'string', default: '8' },
    contended: { type: 'string', default: '4' },
    dialects: { type: 'string', default: 'sqlite,postgres' },
    /** Accounts that queued work once and wait for nothing now (each has a fair_share row the claim walks past). */
    idle: { type: 'string', default: '0' },
  },
});
const JOBS = Number(values.jobs);
const ACCOUNTS = Number(values.accounts);
const CLAIMS = Number(values.claims);
const RUNNING = Number(values.running);
const CONTENDED = Number(values.contended);
const IDLE = Number(values.idle);
const ENGINE = 'stable-diffusion-v1-6';

type Queue = DatabaseJobQueue<typeof JOB_DEFINITIONS>;

function payload(userId: string, n: number) {
  return {
    entryId: randomUUID(),
    threadId: randomUUID(),
    userId,
    aiVersionCode: 'stablediffusion_text2img',
    request: { engine: ENGINE, resolution: '512x512', prompts: [{ text: `job ${n}`, weight: 1 }], images: 1 + (n % 4), steps: 10 + (n % 40), style: null },
    seed: 1 + n,
    cost: 1 + (n % 4),
    engine: ENGINE,
  };
}

/** Accounts with mixed priorities and caps, and `JOBS` pending jobs spread over them (unevenly: a few heavy accounts). */
async function seed(store: Store): Promise<string[]> {
  const users = Array.from({ length: ACCOUNTS }, (_, i) => ({
    id: randomUUID(),
    email: `bench${i}@example.com`,
    password_hash: 'x',
    credits: 0,
    created_at: new Date(Date.UTC(2026, 0, 1)).toISOString(),
    priority: ACCOUNT_PRIORITIES[i % 3],
    max_running: 1 + (i % 3),
  }));
  for (let i = 0; i < users.length; i += 200) await store.db.insertInto('users').values(users.slice(i, i + 200)).execute();
  await store.db.insertInto('fair_share').values(users.map((u) => ({ user_id: u.id, vtime: 0 }))).execute();
  const idle = Array.from({ length: IDLE }, () => ({ user_id: randomUUID(), vtime: 0 }));
  for (let i = 0; i < idle.length; i += 500) await store.db.insertInto('fair_share').values(idle.slice(i, i + 500)).execute();
  const start = Date.UTC(2026, 0, 2);
  const rows = Array.from({ length: JOBS }, (_, n) => {
    // Every fifth account is heavy: about half the backlog.
    const user = n % 2 === 0 ? users[(n * 5) % ACCOUNTS] : users[n % ACCOUNTS];
    const p = payload(user.id, n);
    return {
      id: randomUUID(),
      kind: 'generate',
      payload_version: JOB_DEFINITIONS.generate.version,
      payload: JSON.stringify(p),
      status: 'pending' as const,
      entry_id: p.entryId,
      engine: ENGINE,
      user_id: user.id,
      attempts: 0,
      max_attempts: 3,
      lease_owner: null,
      lease_expires_at: null,
      last_error: null,
      created_at: new Date(start + n).toISOString(),
      started_at: null,
      finished_at: null,
      cost: p.cost,
      vstart: null,
    };
  });
  for (let i = 0; i < rows.length; i += 500) await store.db.insertInto('jobs').values(rows.slice(i, i + 500)).execute();
  return users.map((u) => u.id);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** `claims` timed claims by one claimer, keeping the backlog and the running set steady; returns the times in ms. */
async function claimLoop(store: Store, queue: Queue, claims: number, counter: { n: number }): Promise<number[]> {
  const times: number[] = [];
  const running: LeasedJob[] = [];
  for (let i = 0; i < claims; i++) {
    const t0 = performance.now();
    const claim = await queue.claim({ engines: [ENGINE] });
    times.push(performance.now() - t0);
    if (!claim) throw new Error('the backlog ran dry: raise --jobs or lower --claims');
    running.push(claim.job);
    if (running.length > RUNNING) {
      const done = running.shift()!;
      await store.transaction(async (tx) => {
        await queue.finish(tx, done, { status: 'done' });
        await queue.enqueue(tx, { kind: 'generate', payload: payload(done.userId!, counter.n), userId: done.userId!, engine: ENGINE, cost: 1 + (counter.n++ % 4) });
      });
    }
  }
  for (const job of running) await store.transaction((tx) => queue.finish(tx, job, { status: 'done' }));
  return times;
}

function report(label: string, times: number[]): void {
  const sorted = [...times].sort((a, b) => a - b);
  const fmt = (ms: number) => `${ms.toFixed(2)} ms`;
  console.log(`${label.padEnd(44)} p50 ${fmt(percentile(sorted, 50)).padStart(9)}   p99 ${fmt(percentile(sorted, 99)).padStart(9)}   max ${fmt(sorted[sorted.length - 1]).padStart(9)}   (${times.length})`);
}

async function bench(dialect: 'sqlite' | 'postgres'): Promise<void> {
  let url: string;
  let cleanup: () => Promise<void>;
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(os.tmpdir(), 'sdapi-bench-claim-'));
    url = `sqlite:${join(dir, 'sdapi.db')}`;
    cleanup = async () => rmSync(dir, { recursive: true, force: true });
  } else {
    const down = await postgresUnavailable();
    if (down) {
      console.log(`postgres: skipped (${down})`);
      return;
    }
    const database = await createTestDatabase('bench_claim');
    url = database.url;
    cleanup = () => database.drop();
  }
  const store = await openStore(url);
  const extra: Store[] = [];
  try {
    await seed(store);
    // Planner statistics as a running system has them: PostgreSQL's autovacuum gathers them soon after a bulk load;
    // SQLite has none unless someone runs ANALYZE (the service never does; see BENCHMARKS.md for that case).
    if (dialect === 'postgres' || process.env.BENCH_SQLITE_ANALYZE) await sql`ANALYZE`.execute(store.db);
    // The floor under any claim on this machine at this moment: one trivial statement's round trip.
    const trivial: number[] = [];
    for (let i = 0; i < 500; i++) {
      const t0 = performance.now();
      await sql`SELECT 1`.execute(store.db);
      trivial.push(performance.now() - t0);
    }
    report(`${dialect}: SELECT 1 round trip (for scale)`, trivial);
    const counter = { n: JOBS };
    const queue: Queue = new DatabaseJobQueue({ jobs: store.repos.jobs, notifier: new InProcessNotifier(), definitions: JOB_DEFINITIONS });
    await claimLoop(store, queue, Math.min(200, CLAIMS), counter); // warm-up: statement caches, plans, page cache
    report(`${dialect}: ${JOBS} pending / ${ACCOUNTS} accounts${IDLE ? ` (+${IDLE} idle)` : ''}, 1 claimer`, await claimLoop(store, queue, CLAIMS, counter));
    if (dialect === 'postgres' && CONTENDED > 1) {
      for (let i = 0; i < CONTENDED; i++) extra.push(await openStore(url, { poolSize: 2 }));
      const queues = extra.map((s) => new DatabaseJobQueue({ jobs: s.repos.jobs, notifier: new InProcessNotifier(), definitions: JOB_DEFINITIONS }));
      const all = await Promise.all(queues.map((q, i) => claimLoop(extra[i], q, Math.ceil(CLAIMS / CONTENDED), counter)));
      report(`${dialect}: same, ${CONTENDED} claimers at once`, all.flat());
    }
  } finally {
    for (const s of extra) await s.close();
    await store.close();
    await cleanup();
  }
}

console.log(`claim time, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
for (const dialect of values.dialects.split(',').map((d) => d.trim())) {
  if (dialect !== 'sqlite' && dialect !== 'postgres') throw new Error(`unknown dialect ${dialect}`);
  await bench(dialect);
}
