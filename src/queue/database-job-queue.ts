/**
 * The job queue over the store's `jobs` table (SQLite or PostgreSQL), with the wake-up composed in: an
 * InProcessNotifier for one process, a RedisNotifier for several. Claims are one atomic UPDATE … RETURNING,
 * leases are renewed by heartbeats, a job left running by a dead process is recovered at once and any other
 * after its lease expires; the payload is checked against its kind's schema when claimed.
 */
import { randomUUID } from 'node:crypto';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { TSchema } from '@sinclair/typebox';
import { systemClock, type Clock } from '../domain/clock.ts';
import type { JOB_DEFINITIONS, JobDefinitions } from '../domain/jobs.ts';
import type { JobRow, JobsRepository, JobVersion } from '../store/repositories/jobs.repo.ts';
import type { Repositories } from '../store/repositories/repositories.ts';
import type { Claim, ClaimedJob, ClaimOptions, FinalJobStatus, JobQueue, LeasedJob, NewJob } from './job-queue.ts';
import { newLeaseOwner, ownerIsDead } from './lease-owner.ts';
import type { WorkNotifier } from './work-notifier.ts';

export interface DatabaseJobQueueOptions<D extends JobDefinitions> {
  /** The repository outside any transaction (claims, heartbeats, recovery). */
  jobs: JobsRepository;
  notifier: WorkNotifier;
  /** The job kinds and their payload schemas (the service's: JOB_DEFINITIONS). */
  definitions: D;
  /** Lease length; heartbeats should come at least every third of it. */
  leaseMs?: number;
  owner?: string;
  clock?: Clock;
}

/** How to read one stored (kind, version): the current schema, or a legacy one with its upgrade. */
interface PayloadReader {
  check: TypeCheck<TSchema>;
  upgrade?: (payload: unknown) => unknown;
}

export class DatabaseJobQueue<D extends JobDefinitions = typeof JOB_DEFINITIONS> implements JobQueue<D> {
  readonly owner: string;
  readonly leaseMs: number;
  readonly definitions: D;
  readonly #jobs: JobsRepository;
  readonly #notifier: WorkNotifier;
  readonly #clock: Clock;
  /** `kind@version` → how to read its payload. */
  readonly #readers = new Map<string, PayloadReader>();

  constructor(options: DatabaseJobQueueOptions<D>) {
    this.#jobs = options.jobs;
    this.#notifier = options.notifier;
    this.definitions = options.definitions;
    this.leaseMs = options.leaseMs ?? 30_000;
    this.owner = options.owner ?? newLeaseOwner();
    this.#clock = options.clock ?? systemClock;
    for (const [kind, definition] of Object.entries(this.definitions)) {
      this.#readers.set(`${kind}@${definition.version}`, { check: TypeCompiler.Compile(definition.schema) });
      for (const legacy of definition.legacy ?? []) {
        this.#readers.set(`${kind}@${legacy.version}`, { check: TypeCompiler.Compile(legacy.schema), upgrade: legacy.upgrade });
      }
    }
  }

  async enqueue<K extends keyof D & string>(tx: Repositories, job: NewJob<D, K>): Promise<string> {
    const definition = this.definitions[job.kind];
    const id = randomUUID();
    await tx.jobs.insert({
      id,
      kind: job.kind,
      payload_version: definition.version,
      payload: JSON.stringify(job.payload),
      status: 'pending',
      entry_id: job.entryId ?? null,
      engine: job.engine ?? null,
      user_id: job.userId ?? null,
      attempts: 0,
      max_attempts: definition.maxAttempts,
      lease_owner: null,
      lease_expires_at: null,
      last_error: null,
      created_at: this.#clock().toISOString(),
      started_at: null,
      finished_at: null,
      cost: Math.max(1, job.cost ?? 1),
      vstart: null,
    });
    if (job.userId) await tx.jobs.ensureFairShare(job.userId);
    return id;
  }

  wake(): void {
    this.#notifier.notify();
  }

  waitForWork(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return this.#notifier.wait(timeoutMs, signal);
  }

  async claim(options: ClaimOptions<D> = {}): Promise<Claim<D> | undefined> {
    const { kinds, engines } = options;
    const accepted: JobVersion[] = [];
    for (const key of this.#readers.keys()) {
      const [kind, version] = key.split('@');
      if (!kinds || kinds.some((k) => k === kind)) accepted.push({ kind, version: Number(version) });
    }
    const row = await this.#jobs.claim({ owner: this.owner, now: this.#clock(), leaseMs: this.leaseMs, accepted, engines });
    return row && this.#read(row);
  }

  async heartbeat(job: LeasedJob): Promise<boolean> {
    return this.#jobs.heartbeat(job.id, { owner: job.leaseOwner, expiresAt: new Date(this.#clock().getTime() + this.leaseMs).toISOString() });
  }

  async finish(tx: Repositories, job: LeasedJob, outcome: { status: FinalJobStatus; error?: string }): Promise<boolean> {
    return tx.jobs.finish(job.id, { owner: job.leaseOwner, status: outcome.status, error: outcome.error ?? null, finishedAt: this.#clock().toISOString() });
  }

  async finishPending(tx: Repositories, jobId: string, outcome: { status: 'failed' | 'cancelled'; error: string }): Promise<boolean> {
    return tx.jobs.finishPending(jobId, { ...outcome, finishedAt: this.#clock().toISOString() });
  }

  async release(job: LeasedJob, options: { error?: string; countAttempt?: boolean } = {}): Promise<void> {
    await this.#jobs.release(job.id, { owner: job.leaseOwner, error: options.error ?? null, countAttempt: options.countAttempt ?? true });
    this.wake();
  }

  async cancelForEntries(tx: Repositories, userId: string, entryIds: string[]): Promise<string[]> {
    const rows = await tx.jobs.cancelForEntries(userId, { entryIds, finishedAt: this.#clock().toISOString() });
    return rows.flatMap((r) => (r.entry_id ? [r.entry_id] : []));
  }

  async recoverStale(): Promise<number> {
    const now = this.#clock().getTime();
    const stale = (await this.#jobs.leases()).filter(
      (r) => r.lease_owner !== this.owner && (ownerIsDead(r.lease_owner) || !r.lease_expires_at || Date.parse(r.lease_expires_at) < now),
    );
    let recovered = 0;
    for (const r of stale) {
      if (await this.#jobs.requeue(r.id, { owner: r.lease_owner, error: 'The worker stopped while running this job.' })) recovered++;
    }
    if (recovered > 0) this.wake();
    return recovered;
  }

  async get(jobId: string) {
    const row = await this.#jobs.find(jobId);
    return row && { status: row.status, attempts: Number(row.attempts), createdAt: row.created_at, startedAt: row.started_at };
  }

  close(): Promise<void> {
    return this.#notifier.close();
  }

  /** The claimed row as a typed job when its payload passes the schema of its (kind, version), else why not. */
  #read(row: JobRow): Claim<D> {
    const job: LeasedJob = {
      id: row.id,
      kind: row.kind,
      version: Number(row.payload_version),
      entryId: row.entry_id,
      userId: row.user_id,
      attempts: Number(row.attempts),
      maxAttempts: Number(row.max_attempts),
      leaseOwner: row.lease_owner ?? this.owner,
      createdAt: row.created_at,
      startedAt: row.started_at ?? this.#clock().toISOString(),
    };
    const reader = this.#readers.get(`${job.kind}@${job.version}`);
    if (!reader) return { job, invalid: `No schema for job kind "${job.kind}" version ${job.version}` };
    let payload: unknown;
    try {
      payload = JSON.parse(row.payload);
    } catch {
      return { job, invalid: 'The stored payload is not valid JSON' };
    }
    if (!reader.check.Check(payload)) {
      const first = reader.check.Errors(payload).First();
      return { job, invalid: `The payload does not match its schema: ${first ? `${first.path || '/'} ${first.message}` : 'invalid'}` };
    }
    const current = reader.upgrade ? reader.upgrade(payload) : payload;
    // The one place a stored payload becomes typed: it passed its (kind, version) schema just above.
    return { job: { ...job, payload: current } as ClaimedJob<D> };
  }
}
