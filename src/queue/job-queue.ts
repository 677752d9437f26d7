/**
 * The job queue contract. Jobs are durable: enqueue writes inside the caller's transaction, so a job
 * exists exactly when the rows that need it do. A Redis- or PG-backed queue implements the same interface.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';

/** Kysely handle or an open transaction (a Transaction is a Kysely). */
export type Executor = Kysely<Database>;

export interface JobSpec {
  kind: string;
  payload: unknown;
  /** The request entry this job answers; at most one job per entry. */
  entryId?: string;
  userId?: string;
  maxAttempts?: number;
}

export interface ClaimedJob {
  id: string;
  kind: string;
  payload: unknown;
  entryId: string | null;
  userId: string | null;
  /** Including the current one. */
  attempts: number;
  maxAttempts: number;
  leaseOwner: string;
  createdAt: string;
  startedAt: string;
}

export type FinalJobStatus = 'done' | 'failed' | 'cancelled';

export interface JobQueue {
  /** This process's lease-owner id. */
  readonly owner: string;
  /** Adds a pending job using `executor` (pass the transaction that writes the job's rows). Call `wake()` after commit. */
  enqueue(executor: Executor, spec: JobSpec): Promise<string>;
  /** Wakes idle workers of this process at once (no polling delay). */
  wake(): void;
  /** Atomically takes the oldest pending job and leases it to this process, or returns undefined. */
  claim(): Promise<ClaimedJob | undefined>;
  /** Resolves on wake(), after `timeoutMs`, or when `signal` aborts. */
  waitForWork(timeoutMs: number, signal?: AbortSignal): Promise<void>;
  /** Extends the lease; false when the job is no longer ours (cancelled, recovered by someone else). */
  heartbeat(job: ClaimedJob): Promise<boolean>;
  /** Marks the job final inside `executor`'s transaction; false (and nothing written) when it is no longer ours. */
  finish(executor: Executor, job: ClaimedJob, status: FinalJobStatus, error?: string): Promise<boolean>;
  /**
   * Puts a job we hold back to pending for another attempt. `countAttempt: false` (a graceful shutdown)
   * does not use up one of the job's attempts.
   */
  release(job: ClaimedJob, error?: string, options?: { countAttempt?: boolean }): Promise<void>;
  /** Cancels pending/running jobs of these entries inside `executor`; returns the ones cancelled. */
  cancelForEntries(executor: Executor, entryIds: string[]): Promise<{ id: string; entryId: string | null; payload: unknown }[]>;
  /** Returns jobs left running by dead processes or expired leases to pending; returns how many. */
  recoverStale(): Promise<number>;
  /** Releases connections the queue holds (the Redis queue); the store is closed by whoever opened it. */
  close?(): Promise<void>;
  /** Time of the job's status, for diagnostics and benches. */
  get(id: string): Promise<{ status: string; attempts: number; createdAt: string; startedAt: string | null } | undefined>;
}
