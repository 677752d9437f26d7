/**
 * The `generate` job: request entry → running → images (ImageProducer) → done, or failed with a refund. Every
 * state change goes through EntryService; files of a run that lost its job (cancelled, taken over) are deleted.
 * A failure's reason (a path, an errno, an ONNX node) is for the operator: the tenant's entry gets an error id,
 * and the log gets the same id with the full reason.
 */
import { randomBytes } from 'node:crypto';
import { silentLogger, type OperationalLogger } from '../../domain/logger.ts';
import type { JobHandler, JobOutcome } from '../../queue/job-handler.ts';
import { StorageUnavailableError } from '../../storage/file-storage.ts';
import type { LeasedJob } from '../../queue/job-queue.ts';
import type { EntryService, GenerateJob } from '../entries/entry-service.ts';
import type { ImageProducer } from '../generation/image-producer.ts';

export interface GenerateJobHandlerDeps {
  entries: EntryService;
  producer: ImageProducer;
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
    let produced;
    try {
      const { request, seed, aiVersionCode, engine } = job.payload;
      produced = await producer.produce({ jobId: job.id, aiVersionCode, request, engine, seed }, { signal, onProgress: entries.progressReporter(job) });
    } catch (err) {
      if (signal.aborted) throw err;
      const errorId = newErrorId();
      this.#log.error({ err, errorId, jobId: job.id, entryId: job.payload.entryId, engine: job.payload.engine }, `image generation failed (error id ${errorId})`);
      // A storage outage is worth naming (it is not the request's fault and retrying later helps); its cause stays in the log.
      const what = err instanceof StorageUnavailableError ? 'Image generation failed: the images could not be stored' : 'Image generation failed';
      return entries.fail(job, `${what} (error id ${errorId})`);
    }
    const outcome = await entries.complete(job, produced);
    if (outcome === 'lost') await producer.discard(produced.files);
    return outcome;
  }

  reject(job: LeasedJob, reason: string): Promise<void> {
    return this.deps.entries.failUnreadable(job, reason);
  }
}
