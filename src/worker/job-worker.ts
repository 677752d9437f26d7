/**
 * The worker loop: claims jobs from the queue, dispatches each to the handler of its kind, keeps the lease alive
 * with heartbeats and hands running jobs back on shutdown. It refuses to start unless every job kind has exactly
 * one handler; a job whose stored payload fails its schema is failed cleanly through its handler's reject(). A
 * routed worker claims only the jobs of the engines it serves.
 */
import type { JOB_DEFINITIONS, JobKind } from '../domain/jobs.ts';
import { checkHandlerTable, type JobHandlers } from '../queue/job-handler.ts';
import type { ClaimedJob, JobQueue, LeasedJob } from '../queue/job-queue.ts';

export interface WorkerLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface JobWorkerOptions {
  /** Jobs run at the same time by this worker. */
  concurrency?: number;
  /** Routing: claim only jobs for these engines (and jobs that need none); absent: any engine. */
  engines?: readonly string[];
  /** How long an idle loop waits when nothing wakes it (recovery checks run then). */
  idleMs?: number;
  heartbeatMs?: number;
  logger?: WorkerLogger;
  /** Observability (benches, metrics): called when a job starts and ends. */
  onJobStart?: (job: LeasedJob) => void;
  onJobEnd?: (job: LeasedJob, outcome: string) => void;
}

export interface JobWorkerDeps {
  queue: JobQueue<typeof JOB_DEFINITIONS>;
  handlers: JobHandlers;
}

/** Heartbeats come at least three times per lease (5 s with the default 30 s lease). */
export function heartbeatFor(leaseMs: number): number {
  return Math.max(100, Math.min(5000, Math.floor(leaseMs / 3)));
}

const silent: WorkerLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

export class JobWorker {
  #stop = new AbortController();
  #loops: Promise<void>[] = [];
  readonly #concurrency: number;
  readonly #idleMs: number;
  readonly #heartbeatMs: number;
  readonly #log: WorkerLogger;

  constructor(
    private readonly deps: JobWorkerDeps,
    private readonly options: JobWorkerOptions = {},
  ) {
    this.#concurrency = options.concurrency ?? 1;
    this.#idleMs = options.idleMs ?? 5000;
    this.#heartbeatMs = options.heartbeatMs ?? 5000;
    this.#log = options.logger ?? silent;
  }

  /** Checks the handler table, recovers jobs left behind by a dead process, then starts the loops. */
  async start(): Promise<void> {
    checkHandlerTable(this.deps.queue.definitions, this.deps.handlers);
    const recovered = await this.deps.queue.recoverStale();
    if (recovered > 0) this.#log.info({ recovered }, 'requeued jobs left running by a stopped process');
    for (let i = 0; i < this.#concurrency; i++) this.#loops.push(this.#loop(i));
  }

  /** Stops claiming, aborts running jobs and returns them to the queue. */
  async stop(): Promise<void> {
    this.#stop.abort(new Error('The server is shutting down.'));
    await Promise.all(this.#loops);
    this.#loops = [];
  }

  async #loop(index: number): Promise<void> {
    const stop = this.#stop.signal;
    while (!stop.aborted) {
      let claim;
      try {
        claim = await this.deps.queue.claim({ engines: this.options.engines });
      } catch (err) {
        this.#log.error({ err }, 'claiming a job failed');
      }
      if (!claim) {
        await this.deps.queue.waitForWork(this.#idleMs, stop);
        if (index === 0 && !stop.aborted) await this.deps.queue.recoverStale().catch(() => 0);
        continue;
      }
      if (claim.invalid !== undefined) await this.#reject(claim.job, claim.invalid);
      else await this.#run(claim.job);
    }
  }

  async #reject(job: LeasedJob, reason: string): Promise<void> {
    this.#log.error({ jobId: job.id, kind: job.kind, version: job.version, reason }, 'job payload is unreadable; failing the job');
    const handler = kindOf(this.deps.handlers, job.kind);
    try {
      if (handler) await handler.reject(job, reason);
      else await this.deps.queue.release(job, { error: reason });
    } catch (err) {
      this.#log.error({ err, jobId: job.id }, 'failing an unreadable job failed; it will be retried');
      await this.deps.queue.release(job, { error: reason }).catch(() => undefined);
    }
    this.options.onJobEnd?.(job, 'rejected');
  }

  async #run(job: ClaimedJob): Promise<void> {
    const stop = this.#stop.signal;
    const controller = new AbortController();
    const onStop = () => controller.abort(stop.reason);
    stop.addEventListener('abort', onStop, { once: true });
    const heartbeat = setInterval(() => {
      this.deps.queue
        .heartbeat(job)
        .then((ours) => {
          if (!ours) controller.abort(new Error('The job was cancelled.'));
        })
        .catch(() => undefined);
    }, this.#heartbeatMs);
    this.options.onJobStart?.(job);
    let outcome = 'unknown';
    try {
      outcome = await dispatch(this.deps.handlers, job, controller.signal);
      this.#log.info({ jobId: job.id, kind: job.kind, outcome }, 'job finished');
    } catch (err) {
      if (stop.aborted) {
        outcome = 'released';
        await this.deps.queue.release(job, { error: 'The server stopped while running this job.', countAttempt: false }).catch(() => undefined);
      } else if (controller.signal.aborted) {
        outcome = 'cancelled';
      } else {
        outcome = 'error';
        this.#log.error({ err, jobId: job.id }, 'job failed unexpectedly; it will be retried');
        await this.deps.queue.release(job, { error: err instanceof Error ? err.message : String(err) }).catch(() => undefined);
      }
    } finally {
      clearInterval(heartbeat);
      stop.removeEventListener('abort', onStop);
    }
    this.options.onJobEnd?.(job, outcome);
  }
}

/** Runs a job with the handler of its kind (the mapped handler type keeps kind and payload together). */
function dispatch<K extends JobKind>(handlers: JobHandlers, job: ClaimedJob<typeof JOB_DEFINITIONS, K>, signal: AbortSignal) {
  return handlers[job.kind].run(job, signal);
}

/** The handler for a kind read from the database (a string), if the table has one. */
function kindOf(handlers: JobHandlers, kind: string): JobHandlers[JobKind] | undefined {
  const known = Object.keys(handlers).find((k): k is JobKind => k === kind);
  return known === undefined ? undefined : handlers[known];
}
