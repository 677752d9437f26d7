/**
 * The `generate` job: request entry → running → images (ImageProducer) → done, or failed with a refund. Every
 * state change goes through EntryService; files of a run that lost its job (cancelled, taken over) are deleted.
 */
import type { JobHandler, JobOutcome } from '../../queue/job-handler.ts';
import type { LeasedJob } from '../../queue/job-queue.ts';
import type { EntryService, GenerateJob } from '../entries/entry-service.ts';
import type { ImageProducer } from '../generation/image-producer.ts';

export class GenerateJobHandler implements JobHandler<GenerateJob> {
  constructor(private readonly deps: { entries: EntryService; producer: ImageProducer }) {}

  async run(job: GenerateJob, signal: AbortSignal): Promise<JobOutcome> {
    const { entries, producer } = this.deps;
    if (job.attempts > job.maxAttempts) {
      return entries.fail(job, `Image generation failed: the worker stopped ${job.maxAttempts} times while running this request.`);
    }
    if (!(await entries.start(job))) return entries.abandon(job);
    let produced;
    try {
      const { request, seed, aiVersionCode } = job.payload;
      produced = await producer.produce({ jobId: job.id, aiVersionCode, request, seed }, { signal, onProgress: entries.progressReporter(job) });
    } catch (err) {
      if (signal.aborted) throw err;
      return entries.fail(job, `Image generation failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    const outcome = await entries.complete(job, produced);
    if (outcome === 'lost') await producer.discard(produced.files);
    return outcome;
  }

  reject(job: LeasedJob, reason: string): Promise<void> {
    return this.deps.entries.failUnreadable(job, reason);
  }
}
