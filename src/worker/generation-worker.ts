/**
 * In-process worker loop: claims jobs from the queue, runs them through the generation service
 * (the engine itself runs in a worker thread), keeps the lease alive with heartbeats and gives
 * running jobs back to the queue on shutdown.
 */
import type { JobQueue, ClaimedJob } from '../queue/job-queue.ts';
import type { GenerationService } from '../services/generation/generation-service.ts';
import { GENERATE_JOB } from '../services/generation/payload.ts';

export interface WorkerLogger {
  info(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface GenerationWorkerOptions {
  /** Jobs run at the same time by this process. */
  concurrency?: number;
  /** How long an idle loop sleeps when nothing wakes it (recovery checks run then). */
  idleMs?: number;
  heartbeatMs?: number;
  /** Test aid: pause this long after claiming a job, before generating (the job is `running`). */
  debugJobDelayMs?: number;
  logger?: WorkerLogger;
  onJobStart?: (job: ClaimedJob) => void;
  onJobEnd?: (job: ClaimedJob, outcome: string) => void;
}

/** Heartbeats come at least three times per lease (5 s with the default 30 s lease). */
export function heartbeatFor(leaseMs: number): number {
  return Math.max(100, Math.min(5000, Math.floor(leaseMs / 3)));
}

const silent: WorkerLogger = { info: () => undefined, error: () => undefined };

export class GenerationWorker {
  #stop = new AbortController();
  #loops: Promise<void>[] = [];
  readonly #opts: Required<Omit<GenerationWorkerOptions, 'onJobStart' | 'onJobEnd'>> & Pick<GenerationWorkerOptions, 'onJobStart' | 'onJobEnd'>;

  constructor(
    private readonly deps: { jobs: JobQueue; generation: GenerationService },
    options: GenerationWorkerOptions = {},
  ) {
    this.#opts = {
      concurrency: options.concurrency ?? 1,
      idleMs: options.idleMs ?? 5000,
      heartbeatMs: options.heartbeatMs ?? 5000,
      debugJobDelayMs: options.debugJobDelayMs ?? 0,
      logger: options.logger ?? silent,
      onJobStart: options.onJobStart,
      onJobEnd: options.onJobEnd,
    };
  }

  /** Recovers jobs left behind by a dead process, then starts the loops. */
  async start(): Promise<void> {
    const recovered = await this.deps.jobs.recoverStale();
    if (recovered > 0) this.#opts.logger.info({ recovered }, 'requeued jobs left running by a stopped process');
    for (let i = 0; i < this.#opts.concurrency; i++) this.#loops.push(this.loop(i));
  }

  /** Stops claiming, aborts running jobs and returns them to the queue. */
  async stop(): Promise<void> {
    this.#stop.abort(new Error('The server is shutting down.'));
    this.deps.jobs.wake();
    await Promise.all(this.#loops);
    this.#loops = [];
  }

  private async loop(index: number): Promise<void> {
    const stop = this.#stop.signal;
    while (!stop.aborted) {
      let job: ClaimedJob | undefined;
      try {
        job = await this.deps.jobs.claim();
      } catch (err) {
        this.#opts.logger.error({ err }, 'claiming a job failed');
      }
      if (!job) {
        await this.deps.jobs.waitForWork(this.#opts.idleMs, stop);
        if (index === 0 && !stop.aborted) await this.deps.jobs.recoverStale().catch(() => 0);
        continue;
      }
      await this.runOne(job);
    }
  }

  private async runOne(job: ClaimedJob): Promise<void> {
    const stop = this.#stop.signal;
    const controller = new AbortController();
    const onStop = () => controller.abort(stop.reason);
    stop.addEventListener('abort', onStop, { once: true });
    const heartbeat = setInterval(() => {
      this.deps.jobs
        .heartbeat(job)
        .then((ours) => {
          if (!ours) controller.abort(new Error('The job was cancelled.'));
        })
        .catch(() => undefined);
    }, this.#opts.heartbeatMs);
    this.#opts.onJobStart?.(job);
    let outcome = 'unknown';
    try {
      if (job.kind !== GENERATE_JOB) throw new Error(`No handler for job kind ${job.kind}`);
      outcome = await this.deps.generation.run(job, controller.signal, { debugDelayMs: this.#opts.debugJobDelayMs });
      this.#opts.logger.info({ jobId: job.id, outcome }, 'job finished');
    } catch (err) {
      if (stop.aborted) {
        outcome = 'released';
        await this.deps.jobs.release(job, 'The server stopped while running this job.', { countAttempt: false }).catch(() => undefined);
      } else if (controller.signal.aborted) {
        outcome = 'cancelled';
      } else {
        outcome = 'error';
        this.#opts.logger.error({ err, jobId: job.id }, 'job failed unexpectedly; it will be retried');
        await this.deps.jobs.release(job, err instanceof Error ? err.message : String(err)).catch(() => undefined);
      }
    } finally {
      clearInterval(heartbeat);
      stop.removeEventListener('abort', onStop);
    }
    this.#opts.onJobEnd?.(job, outcome);
  }
}
