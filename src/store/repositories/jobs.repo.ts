/**
 * The `jobs` table: the durable job queue. Every state change is one conditional UPDATE guarded by the lease
 * owner, so a job is claimed by one worker at a time and completed at most once. The claim is one method, the
 * place where scheduling policy lives.
 */
import { sql, type Insertable, type Kysely, type Selectable } from 'kysely';
import type { Dialect } from '../dialect.ts';
import type { Database } from '../schema.ts';
import type { JobsTable, JobStatus } from '../tables/generation.ts';

export type JobRow = Selectable<JobsTable>;
/** A new job row (the cancel request starts unset). */
export type NewJobRow = Insertable<JobsTable>;

/** A (kind, payload version) pair a worker can run. */
export interface JobVersion {
  kind: string;
  version: number;
}

/** Which jobs a claimer takes: the (kind, version) pairs it can run and, when routed, the engines it serves. */
export interface ClaimFilter {
  accepted: readonly JobVersion[];
  /** Jobs without an engine, or for one of these engines; undefined: any engine. */
  engines?: readonly string[];
}

export class JobsRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
  ) {}

  async insert(row: NewJobRow): Promise<void> {
    await this.db.insertInto('jobs').values(row).execute();
  }

  /**
   * Atomically leases the oldest pending job among the accepted (kind, version) pairs to `owner` and counts the
   * attempt. PostgreSQL skips rows other claimers hold (FOR UPDATE SKIP LOCKED), so concurrent workers never wait.
   */
  async claim(lease: { owner: string; now: Date; leaseMs: number } & ClaimFilter): Promise<JobRow | undefined> {
    if (lease.accepted.length === 0) return undefined;
    const engines = lease.engines;
    return this.db
      .updateTable('jobs')
      .set({
        status: 'running',
        lease_owner: lease.owner,
        lease_expires_at: new Date(lease.now.getTime() + lease.leaseMs).toISOString(),
        attempts: sql<number>`attempts + 1`,
        started_at: lease.now.toISOString(),
      })
      .where('id', '=', (eb) => {
        const next = eb
          .selectFrom('jobs')
          .select('id')
          .where('status', '=', 'pending')
          .where((w) => w.or(lease.accepted.map((a) => w.and([w('kind', '=', a.kind), w('payload_version', '=', a.version)]))))
          // Routing: a worker takes only jobs for the engines it serves (and jobs that need none).
          .$if(engines !== undefined, (q) => q.where((w) => w.or([w('engine', 'is', null), ...(engines?.length ? [w('engine', 'in', engines)] : [])])))
          .orderBy('created_at')
          .orderBy('id')
          .limit(1);
        return this.dialect === 'postgres' ? next.forUpdate().skipLocked() : next;
      })
      .where('status', '=', 'pending')
      .returningAll()
      .executeTakeFirst();
  }

  /** Extends the lease; false when the job is no longer running under this owner. */
  async heartbeat(jobId: string, lease: { owner: string; expiresAt: string }): Promise<boolean> {
    const result = await this.db
      .updateTable('jobs')
      .set({ lease_expires_at: lease.expiresAt })
      .where('id', '=', jobId)
      .where('lease_owner', '=', lease.owner)
      .where('status', '=', 'running')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Marks a job this owner holds final; false (nothing written) when it is no longer ours. */
  async finish(jobId: string, change: { owner: string; status: Extract<JobStatus, 'done' | 'failed' | 'cancelled'>; error: string | null; finishedAt: string }): Promise<boolean> {
    const result = await this.db
      .updateTable('jobs')
      .set({ status: change.status, finished_at: change.finishedAt, last_error: change.error, lease_owner: null, lease_expires_at: null })
      .where('id', '=', jobId)
      .where('lease_owner', '=', change.owner)
      .where('status', '=', 'running')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Puts a job this owner holds back to pending; `countAttempt: false` gives the claimed attempt back. */
  async release(jobId: string, change: { owner: string; error: string | null; countAttempt: boolean }): Promise<boolean> {
    const result = await this.db
      .updateTable('jobs')
      .set({
        status: 'pending',
        lease_owner: null,
        lease_expires_at: null,
        last_error: change.error,
        ...(change.countAttempt ? {} : { attempts: sql<number>`attempts - 1` }),
      })
      .where('id', '=', jobId)
      .where('lease_owner', '=', change.owner)
      .where('status', '=', 'running')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Cancels the user's pending or running jobs for these entries; returns the ones cancelled. */
  async cancelForEntries(userId: string, change: { entryIds: string[]; finishedAt: string }): Promise<Pick<JobRow, 'id' | 'entry_id' | 'kind' | 'payload_version' | 'payload'>[]> {
    if (change.entryIds.length === 0) return [];
    return this.db
      .updateTable('jobs')
      .set({ status: 'cancelled', finished_at: change.finishedAt, lease_owner: null, lease_expires_at: null })
      .where('user_id', '=', userId)
      .where('entry_id', 'in', change.entryIds)
      .where('status', 'in', ['pending', 'running'])
      .returning(['id', 'entry_id', 'kind', 'payload_version', 'payload'])
      .execute();
  }

  /** Every running job's lease, for recovery. */
  async leases(): Promise<Pick<JobRow, 'id' | 'lease_owner' | 'lease_expires_at'>[]> {
    return this.db.selectFrom('jobs').select(['id', 'lease_owner', 'lease_expires_at']).where('status', '=', 'running').execute();
  }

  /** Returns a running job to pending if `owner` still holds it (another recoverer may have been first). */
  async requeue(jobId: string, change: { owner: string | null; error: string }): Promise<boolean> {
    const result = await this.db
      .updateTable('jobs')
      .set({ status: 'pending', lease_owner: null, lease_expires_at: null, last_error: change.error })
      .where('id', '=', jobId)
      .where('status', '=', 'running')
      .where('lease_owner', change.owner === null ? 'is' : '=', change.owner)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Pending jobs per engine (jobs without an engine are not counted). */
  async pendingByEngine(): Promise<Map<string, number>> {
    const rows = await this.db
      .selectFrom('jobs')
      .select((eb) => ['engine', eb.fn.countAll<number>().as('count')])
      .where('status', '=', 'pending')
      .where('engine', 'is not', null)
      .groupBy('engine')
      .execute();
    return new Map(rows.flatMap((r) => (r.engine === null ? [] : [[r.engine, Number(r.count)] as const])));
  }

  /** Pending jobs created before `createdBefore` whose engine is none of `servedEngines`, oldest first. */
  async unservedPending(query: { createdBefore: string; servedEngines: readonly string[]; limit: number }): Promise<Pick<JobRow, 'id' | 'engine' | 'entry_id' | 'user_id' | 'created_at'>[]> {
    return this.db
      .selectFrom('jobs')
      .select(['id', 'engine', 'entry_id', 'user_id', 'created_at'])
      .where('status', '=', 'pending')
      .where('engine', 'is not', null)
      .$if(query.servedEngines.length > 0, (q) => q.where('engine', 'not in', query.servedEngines))
      .where('created_at', '<', query.createdBefore)
      .orderBy('created_at')
      .limit(query.limit)
      .execute();
  }

  /** Finishes a job nobody holds (still pending); false when it is no longer pending (claimed, cancelled, expired). */
  async finishPending(jobId: string, change: { status: Extract<JobStatus, 'failed' | 'cancelled'>; error: string; finishedAt: string }): Promise<boolean> {
    const result = await this.db
      .updateTable('jobs')
      .set({ status: change.status, finished_at: change.finishedAt, last_error: change.error })
      .where('id', '=', jobId)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async find(jobId: string): Promise<JobRow | undefined> {
    return this.db.selectFrom('jobs').selectAll().where('id', '=', jobId).executeTakeFirst();
  }

  /** Cancels the user's job for this entry if nobody has claimed it yet; false when it is not pending. */
  async cancelPending(userId: string, entryId: string, at: string): Promise<boolean> {
    const result = await this.db
      .updateTable('jobs')
      .set({ status: 'cancelled', finished_at: at, last_error: 'Cancelled by the client.' })
      .where('user_id', '=', userId)
      .where('entry_id', '=', entryId)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Asks the worker of the user's running job for this entry to stop; the job's id, or undefined when none runs. */
  async requestCancel(userId: string, entryId: string, at: string): Promise<string | undefined> {
    const row = await this.db
      .updateTable('jobs')
      .set({ cancel_requested_at: at })
      .where('user_id', '=', userId)
      .where('entry_id', '=', entryId)
      .where('status', '=', 'running')
      .returning('id')
      .executeTakeFirst();
    return row?.id;
  }

  /** Of these jobs, the ones a client asked to cancel. */
  async cancelRequested(jobIds: readonly string[]): Promise<string[]> {
    if (jobIds.length === 0) return [];
    const rows = await this.db.selectFrom('jobs').select('id').where('id', 'in', jobIds).where('cancel_requested_at', 'is not', null).execute();
    return rows.map((r) => r.id);
  }

  /**
   * For each pending job of these entries: how many pending jobs of the same engine come before it in claim order
   * (created_at, id). Entries whose job is not pending are absent.
   */
  async pendingAhead(entryIds: readonly string[]): Promise<Map<string, number>> {
    if (entryIds.length === 0) return new Map();
    const rows = await this.db
      .selectFrom('jobs as j')
      .select((eb) => [
        'j.entry_id',
        eb
          .selectFrom('jobs as o')
          .select((o) => o.fn.countAll<number>().as('n'))
          .where('o.status', '=', 'pending')
          .where((w) => w.or([w('o.engine', '=', w.ref('j.engine')), w.and([w('o.engine', 'is', null), w('j.engine', 'is', null)])]))
          .where((w) => w.or([w('o.created_at', '<', w.ref('j.created_at')), w.and([w('o.created_at', '=', w.ref('j.created_at')), w('o.id', '<', w.ref('j.id'))])]))
          .as('ahead'),
      ])
      .where('j.entry_id', 'in', entryIds)
      .where('j.status', '=', 'pending')
      .execute();
    return new Map(rows.flatMap((r) => (r.entry_id === null ? [] : [[r.entry_id, Number(r.ahead ?? 0)] as const])));
  }
}
