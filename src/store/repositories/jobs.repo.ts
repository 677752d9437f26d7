/**
 * The `jobs` table: the durable job queue. Every state change is one conditional UPDATE guarded by the lease
 * owner, so a job is claimed by one worker at a time and completed at most once. The claim is one method, the
 * place where scheduling policy lives.
 */
import { sql, type Insertable, type Kysely, type Selectable } from 'kysely';
import { DEFAULT_MAX_RUNNING, DEFAULT_PRIORITY, priorityWeight } from '../../domain/scheduling.ts';
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

/** What the claim's first step returns (raw row: numbers may arrive as strings from some drivers). */
interface AccountPick {
  user_id: string;
  start_tag: number;
  clock: number;
  priority: string;
  max_running: number;
  oldest: string;
}

/** The claimer's (kind, version) pairs and engines as an SQL condition on the jobs alias `a`. */
function claimFilter(filter: ClaimFilter, a: string) {
  const kinds = sql.join(
    filter.accepted.map((v) => sql`(${sql.ref(`${a}.kind`)} = ${v.kind} AND ${sql.ref(`${a}.payload_version`)} = ${v.version})`),
    sql` OR `,
  );
  if (filter.engines === undefined) return sql`(${kinds})`;
  const engine = sql.ref(`${a}.engine`);
  const served = filter.engines.length > 0 ? sql` OR ${engine} IN (${sql.join([...filter.engines])})` : sql``;
  return sql`(${kinds}) AND (${engine} IS NULL${served})`;
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
   * Leases the next job by weighted fair share (docs/scheduling.md) to `owner` and counts the attempt:
   * 1. among accounts with a pending job this claimer can run and fewer running jobs than their `max_running`, the
   *    one whose start tag max(vtime, clock) is least (ties: the oldest pending job first). PostgreSQL locks that
   *    account's `fair_share` row FOR UPDATE SKIP LOCKED, so concurrent claimers take other accounts and never wait;
   * 2. that account's oldest pending job, re-checking `max_running` now that the account is ours;
   * 3. the account's vtime advances by the job's cost ÷ its weight.
   * Jobs without an account (none today) are claimed oldest first when no account's job is claimable.
   */
  async claim(lease: { owner: string; now: Date; leaseMs: number } & ClaimFilter): Promise<JobRow | undefined> {
    if (lease.accepted.length === 0) return undefined;
    const claimed = await this.db.transaction().execute(async (trx) => {
      // A claim lost in a database crash only puts its job back to pending (its worker's heartbeat then finds the
      // lease gone), so its commit need not wait for the WAL flush, the largest part of a claim's time.
      if (this.dialect === 'postgres') await sql`SET LOCAL synchronous_commit = off`.execute(trx);
      const tried: string[] = [];
      // Each round either claims or rules one account out (its job or its last slot went to a concurrent claimer).
      for (let round = 0; round < 8; round++) {
        const pick = await this.#pickAccount(trx, lease, tried);
        if (!pick) return undefined;
        const row = await this.#claimOldest(trx, lease, pick);
        if (row) {
          const vstart = Number(row.vstart);
          await trx.updateTable('fair_share').set({ vtime: vstart + Number(row.cost) / priorityWeight(pick.priority) }).where('user_id', '=', pick.user_id).execute();
          return row;
        }
        tried.push(pick.user_id);
      }
      return undefined;
    });
    return claimed ?? this.#claimUnowned(lease);
  }

  /** The account to serve next (step 1 of claim()), with the scheduler clock and what step 2 needs. */
  async #pickAccount(trx: Kysely<Database>, lease: ClaimFilter, tried: readonly string[]): Promise<AccountPick | undefined> {
    const runnable = claimFilter(lease, 'j');
    const greatest = this.dialect === 'postgres' ? sql.raw('greatest') : sql.raw('max');
    const excluded = tried.length > 0 ? sql`AND f.user_id NOT IN (${sql.join(tried)})` : sql``;
    const lock = this.dialect === 'postgres' ? sql`FOR UPDATE OF f SKIP LOCKED` : sql``;
    // One probe per account with a fair_share row (accounts that have queued work), each an index walk on
    // (status, user_id, created_at) that stops at its first match, rather than one row per pending job; `clock` is
    // the start tag of the latest claim. (A recursive walk over the distinct waiting accounts was tried: SQLite
    // re-ran it for every row, 100× slower. An ORDER BY … LIMIT 1 also beats min(): SQLite's min() with a filter the
    // index does not cover reads every row.)
    const result = await sql<AccountPick>`
      WITH clock(v) AS (
        SELECT coalesce((SELECT s.vstart FROM jobs s WHERE s.started_at IS NOT NULL AND s.vstart IS NOT NULL ORDER BY s.started_at DESC, s.vstart DESC LIMIT 1), 0)
      )
      SELECT f.user_id, ${greatest}(f.vtime, clock.v) AS start_tag, clock.v AS clock,
             coalesce(u.priority, ${DEFAULT_PRIORITY}) AS priority, coalesce(u.max_running, ${DEFAULT_MAX_RUNNING}) AS max_running,
             (SELECT j.created_at FROM jobs j WHERE j.status = 'pending' AND j.user_id = f.user_id AND ${runnable} ORDER BY j.created_at LIMIT 1) AS oldest
      FROM fair_share f
      CROSS JOIN clock
      LEFT JOIN users u ON u.id = f.user_id
      WHERE EXISTS (SELECT 1 FROM jobs j WHERE j.status = 'pending' AND j.user_id = f.user_id AND ${runnable})
        AND (SELECT count(*) FROM jobs r WHERE r.status = 'running' AND r.user_id = f.user_id) < coalesce(u.max_running, ${DEFAULT_MAX_RUNNING})
        ${excluded}
      ORDER BY start_tag, oldest, f.user_id
      LIMIT 1
      ${lock}`.execute(trx);
    return result.rows[0];
  }

  /** Step 2: the picked account's oldest runnable pending job, if it is still under `max_running`. */
  async #claimOldest(trx: Kysely<Database>, lease: { owner: string; now: Date; leaseMs: number } & ClaimFilter, pick: AccountPick): Promise<JobRow | undefined> {
    const runnable = claimFilter(lease, 'j');
    const greatest = this.dialect === 'postgres' ? sql.raw('greatest') : sql.raw('max');
    const lock = this.dialect === 'postgres' ? sql`FOR UPDATE SKIP LOCKED` : sql``;
    // On PostgreSQL this statement starts after the account's row was locked, so its snapshot sees every claim that
    // another worker committed for the account: the running count is exact.
    const result = await sql<JobRow>`
      UPDATE jobs SET
        status = 'running',
        lease_owner = ${lease.owner},
        lease_expires_at = ${new Date(lease.now.getTime() + lease.leaseMs).toISOString()},
        attempts = attempts + 1,
        started_at = ${lease.now.toISOString()},
        vstart = (SELECT ${greatest}(f.vtime, ${Number(pick.clock)}) FROM fair_share f WHERE f.user_id = ${pick.user_id})
      WHERE id = (
          SELECT j.id FROM jobs j WHERE j.status = 'pending' AND j.user_id = ${pick.user_id} AND ${runnable}
          ORDER BY j.created_at, j.id LIMIT 1 ${lock}
        )
        AND status = 'pending'
        AND (SELECT count(*) FROM jobs r WHERE r.status = 'running' AND r.user_id = ${pick.user_id}) < ${Number(pick.max_running)}
      RETURNING *`.execute(trx);
    return result.rows[0];
  }

  /** Jobs that belong to no account, oldest first (only when no account's job could be claimed). */
  async #claimUnowned(lease: { owner: string; now: Date; leaseMs: number } & ClaimFilter): Promise<JobRow | undefined> {
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
          .where('user_id', 'is', null)
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

  /**
   * What the fair-order queue position needs for one engine: its pending jobs, the scheduler rows and priorities of
   * their accounts, and the scheduler clock (the start tag of the latest claim).
   */
  async fairSnapshot(engine: string): Promise<{
    pending: Pick<JobRow, 'id' | 'entry_id' | 'user_id' | 'cost' | 'created_at'>[];
    accounts: { user_id: string; vtime: number; priority: string | null }[];
    clock: number;
  }> {
    const pending = await this.db
      .selectFrom('jobs')
      .select(['id', 'entry_id', 'user_id', 'cost', 'created_at'])
      .where('status', '=', 'pending')
      .where('engine', '=', engine)
      .orderBy('created_at')
      .execute();
    const accounts = await this.db
      .selectFrom('fair_share as f')
      .leftJoin('users as u', 'u.id', 'f.user_id')
      .select(['f.user_id', 'f.vtime', 'u.priority'])
      .where('f.user_id', 'in', (eb) => eb.selectFrom('jobs').select('user_id').where('status', '=', 'pending').where('engine', '=', engine).where('user_id', 'is not', null).$narrowType<{ user_id: string }>())
      .execute();
    const clock = await this.db
      .selectFrom('jobs')
      .select('vstart')
      .where('started_at', 'is not', null)
      .where('vstart', 'is not', null)
      .orderBy('started_at', 'desc')
      .orderBy('vstart', 'desc')
      .limit(1)
      .executeTakeFirst();
    return { pending, accounts: accounts.map((a) => ({ user_id: a.user_id, vtime: Number(a.vtime), priority: a.priority })), clock: Number(clock?.vstart ?? 0) };
  }

  /** The engines of these entries' pending jobs (jobs without an engine have no queue position). */
  async pendingEnginesOf(entryIds: readonly string[]): Promise<string[]> {
    if (entryIds.length === 0) return [];
    const rows = await this.db
      .selectFrom('jobs')
      .select('engine')
      .distinct()
      .where('entry_id', 'in', entryIds)
      .where('status', '=', 'pending')
      .where('engine', 'is not', null)
      .execute();
    return rows.flatMap((r) => (r.engine === null ? [] : [r.engine]));
  }

  /** The account's jobs running now and waiting now. */
  async countsForUser(userId: string): Promise<{ running: number; queued: number }> {
    const rows = await this.db
      .selectFrom('jobs')
      .select((eb) => ['status', eb.fn.countAll<number>().as('count')])
      .where('user_id', '=', userId)
      .where('status', 'in', ['pending', 'running'])
      .groupBy('status')
      .execute();
    const count = (status: JobStatus) => Number(rows.find((r) => r.status === status)?.count ?? 0);
    return { running: count('running'), queued: count('pending') };
  }

  /** Creates the account's scheduler row if it has none (at its first enqueue); an existing row is left alone. */
  async ensureFairShare(userId: string): Promise<void> {
    await this.db.insertInto('fair_share').values({ user_id: userId, vtime: 0 }).onConflict((oc) => oc.column('user_id').doNothing()).execute();
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
