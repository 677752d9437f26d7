/**
 * The job queue contract. Jobs are durable rows: enqueue writes inside the caller's transaction, so a job exists
 * exactly when the rows that need it do. Payloads are typed per kind (src/domain/jobs.ts) and checked against
 * their schema when claimed.
 */
import type { JobDefinitions, PayloadOf, JOB_DEFINITIONS } from '../domain/jobs.ts';
import type { Repositories } from '../store/repositories/repositories.ts';

/** A job this queue holds a lease on, before its payload is trusted. */
export interface LeasedJob {
  id: string;
  kind: string;
  version: number;
  /** The request entry this job answers, when there is one (at most one job per entry). */
  entryId: string | null;
  userId: string | null;
  /** Including the current one. */
  attempts: number;
  maxAttempts: number;
  leaseOwner: string;
  createdAt: string;
  startedAt: string;
}

/** A leased job whose payload passed its kind's schema: `kind` tells the payload's type. */
export type ClaimedJob<D extends JobDefinitions = typeof JOB_DEFINITIONS, K extends keyof D & string = keyof D & string> = {
  [P in K]: LeasedJob & { kind: P; payload: PayloadOf<D[P]> };
}[K];

/** What claim() hands out: a typed job, or a leased job whose stored payload is unreadable (`invalid` says why). */
export type Claim<D extends JobDefinitions = typeof JOB_DEFINITIONS> = { job: ClaimedJob<D>; invalid?: undefined } | { job: LeasedJob; invalid: string };

export interface NewJob<D extends JobDefinitions, K extends keyof D & string> {
  kind: K;
  payload: PayloadOf<D[K]>;
  entryId?: string;
  userId?: string;
  /** The canonical id of the engine the job needs: only workers serving it claim the job. Absent: any worker. */
  engine?: string;
  /** The work the job stands for, charged to its account's fair share when it starts (default and minimum 1). */
  cost?: number;
}

/** Which jobs claim() may take. */
export interface ClaimOptions<D extends JobDefinitions> {
  /** Only these kinds (all by default). */
  kinds?: readonly (keyof D & string)[];
  /** Only jobs for these engines, and jobs that need none (default: any engine). */
  engines?: readonly string[];
}

export type FinalJobStatus = 'done' | 'failed' | 'cancelled';

export interface JobQueue<D extends JobDefinitions = typeof JOB_DEFINITIONS> {
  /** This queue's lease-owner id (see lease-owner.ts). */
  readonly owner: string;
  readonly definitions: D;
  /** Adds a pending job through `tx` (the transaction that writes the job's rows). Call wake() after the commit. */
  enqueue<K extends keyof D & string>(tx: Repositories, job: NewJob<D, K>): Promise<string>;
  /** Wakes idle workers (of this process, or of all processes with a shared notifier) at once. */
  wake(): void;
  /** Leases the next pending job (of these kinds and engines, in a payload version this queue knows) by weighted fair share between accounts. */
  claim(options?: ClaimOptions<D>): Promise<Claim<D> | undefined>;
  /** Resolves on wake(), after `timeoutMs`, or when `signal` aborts. */
  waitForWork(timeoutMs: number, signal?: AbortSignal): Promise<void>;
  /** Extends the lease; false when the job is no longer ours (cancelled, recovered by someone else). */
  heartbeat(job: LeasedJob): Promise<boolean>;
  /** Marks the job final inside `tx`; false (and nothing written) when it is no longer ours. */
  finish(tx: Repositories, job: LeasedJob, outcome: { status: FinalJobStatus; error?: string }): Promise<boolean>;
  /** Finishes a job nobody has claimed inside `tx`; false (nothing written) when it is no longer pending. */
  finishPending(tx: Repositories, jobId: string, outcome: { status: 'failed' | 'cancelled'; error: string }): Promise<boolean>;
  /** Puts a job we hold back to pending. `countAttempt: false` (a graceful shutdown) gives the attempt back. */
  release(job: LeasedJob, options?: { error?: string; countAttempt?: boolean }): Promise<void>;
  /** Cancels the user's pending/running jobs of these entries inside `tx`; returns the cancelled jobs' entry ids. */
  cancelForEntries(tx: Repositories, userId: string, entryIds: string[]): Promise<string[]>;
  /** Returns jobs of dead processes or with expired leases to pending; returns how many. */
  recoverStale(): Promise<number>;
  /** Status and times of a job, for diagnostics. */
  get(jobId: string): Promise<{ status: string; attempts: number; createdAt: string; startedAt: string | null } | undefined>;
  /** Releases the notifier's connections; the store is closed by whoever opened it. */
  close(): Promise<void>;
}
