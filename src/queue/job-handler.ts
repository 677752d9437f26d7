/** What the worker needs per job kind. Handlers live with the services; the worker dispatches to them by kind. */
import type { JobDefinitions, JOB_DEFINITIONS } from '../domain/jobs.ts';
import type { ClaimedJob, LeasedJob } from './job-queue.ts';

/** done/failed: the job reached its final state; lost: it was no longer ours (cancelled, taken over). */
export type JobOutcome = 'done' | 'failed' | 'cancelled' | 'lost';

export interface JobHandler<J extends LeasedJob> {
  /**
   * Runs the job to its final state (idempotent: a retry after a crash must be safe). Throws only when `signal`
   * aborted it (the worker then releases the job) or for an unexpected failure (retried).
   */
  run(job: J, signal: AbortSignal): Promise<JobOutcome>;
  /** The stored payload failed its schema check: finish the job as failed and undo what enqueuing did (refunds). */
  reject(job: LeasedJob, reason: string): Promise<void>;
}

/** Exactly one handler per job kind. */
export type JobHandlers<D extends JobDefinitions = typeof JOB_DEFINITIONS> = {
  [K in keyof D & string]: JobHandler<ClaimedJob<D, K>>;
};

/**
 * Throws unless every defined kind has a handler and every handler a defined kind (the table may come from code
 * the compiler did not check, e.g. a plugin): a worker that cannot run a kind must not claim it.
 */
export function checkHandlerTable(definitions: JobDefinitions, handlers: object): void {
  const defined = Object.keys(definitions);
  const handled = Object.keys(handlers);
  const missing = defined.filter((kind) => !handled.includes(kind));
  const unknown = handled.filter((kind) => !defined.includes(kind));
  const invalid = handled.filter((kind) => {
    const handler: unknown = Reflect.get(handlers, kind);
    return typeof handler !== 'object' || handler === null || typeof Reflect.get(handler, 'run') !== 'function' || typeof Reflect.get(handler, 'reject') !== 'function';
  });
  const problems = [
    ...missing.map((kind) => `no handler for job kind "${kind}"`),
    ...unknown.map((kind) => `a handler for the unknown job kind "${kind}"`),
    ...invalid.filter((kind) => !unknown.includes(kind)).map((kind) => `the handler for "${kind}" lacks run() or reject()`),
  ];
  if (problems.length > 0) throw new Error(`Cannot start the worker: ${problems.join('; ')}`);
}
