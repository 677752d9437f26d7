/**
 * The embedded queue: jobs live in the store's `jobs` table (SQLite or PostgreSQL). A claim is one
 * atomic UPDATE … RETURNING; idle workers of the same process are woken in-process on enqueue, so
 * pickup costs one query instead of a polling interval. Leases are renewed by heartbeats; a job
 * left `running` by a process that died (same host, pid gone) is recovered at once, any other
 * after its lease expires.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { sql } from 'kysely';
import type { Executor, ClaimedJob, FinalJobStatus, JobQueue, JobSpec } from './job-queue.ts';
import { dialectOf } from '../store/database.ts';
import type { JobsTable } from '../store/tables/generation.ts';

export interface EmbeddedQueueOptions {
  /** Lease length; heartbeats should come at least every third of it. */
  leaseMs?: number;
  owner?: string;
  /** PostgreSQL claims use FOR UPDATE SKIP LOCKED so concurrent workers never wait on each other (default: from the handle). */
  dialect?: 'sqlite' | 'postgres';
}

const HOST = hostname();

export function processOwnerId(): string {
  return `${HOST}:${process.pid}:${randomBytes(4).toString('hex')}`;
}

export class EmbeddedJobQueue implements JobQueue {
  readonly owner: string;
  readonly leaseMs: number;
  readonly #skipLocked: boolean;
  #waiters = new Set<() => void>();

  constructor(
    private readonly db: Executor,
    options: EmbeddedQueueOptions = {},
  ) {
    this.owner = options.owner ?? processOwnerId();
    this.leaseMs = options.leaseMs ?? 30_000;
    this.#skipLocked = (options.dialect ?? dialectOf(db)) === 'postgres';
  }

  async enqueue(executor: Executor, spec: JobSpec): Promise<string> {
    const id = randomUUID();
    await executor
      .insertInto('jobs')
      .values({
        id,
        kind: spec.kind,
        payload: JSON.stringify(spec.payload ?? null),
        status: 'pending',
        entry_id: spec.entryId ?? null,
        user_id: spec.userId ?? null,
        attempts: 0,
        max_attempts: spec.maxAttempts ?? 3,
        lease_owner: null,
        lease_expires_at: null,
        last_error: null,
        created_at: new Date().toISOString(),
        started_at: null,
        finished_at: null,
      })
      .execute();
    return id;
  }

  wake(): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const w of waiters) w();
  }

  waitForWork(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      signal?.addEventListener('abort', done, { once: true });
      this.#waiters.add(done);
    });
  }

  async claim(): Promise<ClaimedJob | undefined> {
    const now = new Date();
    const row = await this.db
      .updateTable('jobs')
      .set({
        status: 'running',
        lease_owner: this.owner,
        lease_expires_at: new Date(now.getTime() + this.leaseMs).toISOString(),
        attempts: sql<number>`attempts + 1`,
        started_at: now.toISOString(),
      })
      .where('id', '=', (eb) => {
        const next = eb.selectFrom('jobs').select('id').where('status', '=', 'pending').orderBy('created_at').orderBy('id').limit(1);
        return this.#skipLocked ? next.forUpdate().skipLocked() : next;
      })
      .where('status', '=', 'pending')
      .returningAll()
      .executeTakeFirst();
    return row ? toClaimed(row) : undefined;
  }

  async heartbeat(job: ClaimedJob): Promise<boolean> {
    const result = await this.db
      .updateTable('jobs')
      .set({ lease_expires_at: new Date(Date.now() + this.leaseMs).toISOString() })
      .where('id', '=', job.id)
      .where('lease_owner', '=', job.leaseOwner)
      .where('status', '=', 'running')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async finish(executor: Executor, job: ClaimedJob, status: FinalJobStatus, error?: string): Promise<boolean> {
    const result = await executor
      .updateTable('jobs')
      .set({ status, finished_at: new Date().toISOString(), last_error: error ?? null, lease_owner: null, lease_expires_at: null })
      .where('id', '=', job.id)
      .where('lease_owner', '=', job.leaseOwner)
      .where('status', '=', 'running')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async release(job: ClaimedJob, error?: string, options: { countAttempt?: boolean } = {}): Promise<void> {
    await this.db
      .updateTable('jobs')
      .set({
        status: 'pending',
        lease_owner: null,
        lease_expires_at: null,
        last_error: error ?? null,
        ...(options.countAttempt === false ? { attempts: sql<number>`attempts - 1` } : {}),
      })
      .where('id', '=', job.id)
      .where('lease_owner', '=', job.leaseOwner)
      .where('status', '=', 'running')
      .execute();
    this.wake();
  }

  async cancelForEntries(executor: Executor, entryIds: string[]) {
    if (entryIds.length === 0) return [];
    const rows = await executor
      .updateTable('jobs')
      .set({ status: 'cancelled', finished_at: new Date().toISOString(), lease_owner: null, lease_expires_at: null })
      .where('entry_id', 'in', entryIds)
      .where('status', 'in', ['pending', 'running'])
      .returning(['id', 'entry_id', 'payload'])
      .execute();
    return rows.map((r) => ({ id: r.id, entryId: r.entry_id, payload: JSON.parse(r.payload) as unknown }));
  }

  async recoverStale(): Promise<number> {
    const running = await this.db
      .selectFrom('jobs')
      .select(['id', 'lease_owner', 'lease_expires_at'])
      .where('status', '=', 'running')
      .execute();
    const now = Date.now();
    const stale = running.filter((r) => r.lease_owner !== this.owner && (ownerIsDead(r.lease_owner) || !r.lease_expires_at || Date.parse(r.lease_expires_at) < now));
    let recovered = 0;
    for (const r of stale) {
      const result = await this.db
        .updateTable('jobs')
        .set({ status: 'pending', lease_owner: null, lease_expires_at: null, last_error: 'The worker stopped while running this job.' })
        .where('id', '=', r.id)
        .where('status', '=', 'running')
        .where('lease_owner', r.lease_owner === null ? 'is' : '=', r.lease_owner)
        .executeTakeFirst();
      recovered += Number(result.numUpdatedRows);
    }
    if (recovered > 0) this.wake();
    return recovered;
  }

  async get(id: string) {
    const row = await this.db.selectFrom('jobs').select(['status', 'attempts', 'created_at', 'started_at']).where('id', '=', id).executeTakeFirst();
    return row && { status: row.status, attempts: Number(row.attempts), createdAt: row.created_at, startedAt: row.started_at };
  }
}

/** A lease owned by a process on this host whose pid no longer exists. */
function ownerIsDead(owner: string | null): boolean {
  if (!owner) return true;
  const [host, pidText] = owner.split(':');
  if (host !== HOST) return false;
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true; // same pid, other boot id: a previous life of this pid
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function toClaimed(row: JobsTable): ClaimedJob {
  return {
    id: row.id,
    kind: row.kind,
    payload: JSON.parse(row.payload) as unknown,
    entryId: row.entry_id,
    userId: row.user_id,
    attempts: Number(row.attempts),
    maxAttempts: Number(row.max_attempts),
    leaseOwner: row.lease_owner ?? '',
    createdAt: row.created_at,
    startedAt: row.started_at ?? new Date().toISOString(),
  };
}
