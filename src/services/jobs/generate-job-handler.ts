/**
 * The `generate` job: request entry → running → images (ImageProducer) → done, or failed with a refund, or (the
 * client cancelled it: CancelWatch) stopped at the next denoising step and settled with the images finished so far.
 * Every state change goes through EntryService; files of a run that lost its job (deleted, taken over) are deleted.
 * A failure's reason (a path, an errno, an ONNX node) is for the operator: the tenant's entry gets an error id,
 * and the log gets the same id with the full reason.
 */
import { randomBytes } from 'node:crypto';
import { silentLogger, type OperationalLogger } from '../../domain/logger.ts';
import type { JobHandler, JobOutcome } from '../../queue/job-handler.ts';
import { StorageUnavailableError } from '../../storage/file-storage.ts';
import type { LeasedJob } from '../../queue/job-queue.ts';
import type { EntryService, GenerateJob } from '../entries/entry-service.ts';
import type { ImageProducer, Produced } from '../generation/image-producer.ts';
import type { CancelWatch } from './cancel-watch.ts';

export interface GenerateJobHandlerDeps {
  entries: EntryService;
  producer: ImageProducer;
  cancels: CancelWatch;
  logger?: OperationalLogger;
}

/** A short id that ties a tenant-visible failure to its log record. */
export function newErrorId(): string {
  return randomBytes(5).toString('hex');
}

export class GenerateJobHandler implements JobHandler<GenerateJob> {
  readonly #log: OperationalLogger;

  constructor(private readonly deps: GenerateJobHandlerDeps) {
    this.#log = deps.logger ?? silentLogger;
  }

  async run(job: GenerateJob, signal: AbortSignal): Promise<JobOutcome> {
    const { entries, producer } = this.deps;
    if (job.attempts > job.maxAttempts) {
      return entries.fail(job, `Image generation failed: the worker stopped ${job.maxAttempts} times while running this request.`);
    }
    if (!(await entries.start(job))) return entries.abandon(job);
    // One signal for the engine: the worker's (shutdown, lost lease) or the client's cancel.
    const stop = new AbortController();
    let cancelled = false;
    const onWorkerStop = () => stop.abort(signal.reason);
    if (signal.aborted) onWorkerStop();
    signal.addEventListener('abort', onWorkerStop, { once: true });
    const unwatch = this.deps.cancels.watch(job.id, () => {
      cancelled = true;
      stop.abort(new Error('Cancelled by the client.'));
    });
    const progress = entries.progressReporter(job);
    let produced: Produced;
    try {
      const { request, seed, aiVersionCode, engine } = job.payload;
      produced = await producer.produce(
        { jobId: job.id, aiVersionCode, request, engine, seed },
        {
          signal: stop.signal,
          onProgress: progress,
          preview: entries.previewReporter(job),
          // A shutdown hands the job back (it runs again elsewhere); only the client's cancel settles it early.
          keepFinished: () => cancelled && !signal.aborted,
        },
      );
    } catch (err) {
      if (signal.aborted) throw err;
      const errorId = newErrorId();
      this.#log.error({ err, errorId, jobId: job.id, entryId: job.payload.entryId, engine: job.payload.engine }, `image generation failed (error id ${errorId})`);
      // A storage outage is worth naming (it is not the request's fault and retrying later helps); its cause stays in the log.
      const what = err instanceof StorageUnavailableError ? 'Image generation failed: the images could not be stored' : 'Image generation failed';
      return entries.fail(job, `${what} (error id ${errorId})`);
    } finally {
      unwatch();
      signal.removeEventListener('abort', onWorkerStop);
    }
    // The last progress event goes out before the final one (completed or cancelled).
    await progress.settled();
    const outcome = produced.partial ? await entries.completeCancelled(job, produced) : await entries.complete(job, produced);
    if (outcome === 'lost') await producer.discard(produced.files);
    return outcome;
  }

  reject(job: LeasedJob, reason: string): Promise<void> {
    return this.deps.entries.failUnreadable(job, reason);
  }
}
