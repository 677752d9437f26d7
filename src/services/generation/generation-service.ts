/**
 * Runs one `generate` job: engine → images → PNG (with parameters chunk) + thumbnail in storage →
 * response entry + charge. The final write is one transaction guarded by the job lease, so a crash
 * at any point leaves either no response (the job is re-run after restart) or exactly one.
 * File names derive from the job id, so a re-run overwrites instead of leaving orphans.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../../store/schema.ts';
import { lockThread } from '../../store/locks.ts';
import type { ClaimedJob, JobQueue } from '../../queue/job-queue.ts';
import type { FileStorage } from '../../storage/file-storage.ts';
import type { CreditService } from '../credits/credit-service.ts';
import { insertEntry, type ImageItem, type Progress } from '../entries/entry-service.ts';
import type { EngineCatalog } from './catalog.ts';
import type { GenerationProgress, ImageGenerator, SamplerName } from './image-generator.ts';
import { encodeImage } from './image-encoder.ts';
import type { GenerationPayload } from './payload.ts';
import { parametersText } from './png-text.ts';
import { planSize } from './sizing.ts';

export interface GenerationServiceDeps {
  db: Kysely<Database>;
  queue: JobQueue;
  storage: FileStorage;
  credits: CreditService;
  catalog: EngineCatalog;
  generator: ImageGenerator;
  /** Absolute base of image URLs, without the trailing slash. */
  publicUrl: string;
  /** Minimum time between two progress writes. */
  progressIntervalMs?: number;
}

export type JobOutcome = 'done' | 'failed' | 'lost';

/** Thrown by a lost lease inside the final transaction, to roll it back. */
class LeaseLost extends Error {}

export class GenerationService {
  constructor(private readonly deps: GenerationServiceDeps) {}

  /**
   * Runs the job to its final state; throws only when `signal` aborted it (the caller releases the job).
   * `debugDelayMs` (test aid) pauses after the entry is marked running, before the engine starts.
   */
  async run(job: ClaimedJob, signal: AbortSignal, options: { debugDelayMs?: number } = {}): Promise<JobOutcome> {
    const payload = job.payload as GenerationPayload;
    if (job.attempts > job.maxAttempts) {
      return this.fail(job, payload, `Image generation failed: the worker stopped ${job.maxAttempts} times while running this request.`);
    }
    const started = await this.deps.db
      .updateTable('entries')
      .set({ status: 'running', updated_at: new Date().toISOString() })
      .where('id', '=', payload.entryId)
      .where('status', 'in', ['queued', 'running'])
      .executeTakeFirst();
    if (Number(started.numUpdatedRows) === 0) {
      await this.deps.db.transaction().execute((trx) => this.deps.queue.finish(trx, job, 'cancelled', 'The request entry no longer exists.'));
      return 'lost';
    }
    let items: ImageItem[];
    const keys: string[] = [];
    try {
      if (options.debugDelayMs) await abortableSleep(options.debugDelayMs, signal);
      items = await this.produce(job, payload, signal, keys);
    } catch (err) {
      await Promise.all(keys.map((k) => this.deps.storage.delete(k).catch(() => undefined)));
      if (signal.aborted) throw err;
      const reason = err instanceof Error ? err.message : String(err);
      return this.fail(job, payload, `Image generation failed: ${reason}`);
    }
    return this.complete(job, payload, items, keys);
  }

  /** Generates and stores the images; `keys` collects every file written, so a failure can remove them. */
  private async produce(job: ClaimedJob, payload: GenerationPayload, signal: AbortSignal, keys: string[]): Promise<ImageItem[]> {
    const model = await this.deps.catalog.model(payload.modelDir);
    const plan = planSize({ width: payload.width, height: payload.height }, { width: model.nativeWidth, height: model.nativeHeight });
    const reportProgress = this.progressWriter(payload.entryId, payload.steps);
    const images = await this.deps.generator.generate(
      payload.modelDir,
      {
        prompts: payload.prompts,
        width: plan.width,
        height: plan.height,
        steps: payload.steps,
        cfgScale: payload.cfgScale,
        sampler: (payload.sampler ?? undefined) as SamplerName | undefined,
        seed: payload.seed,
        images: payload.images,
        style: payload.style ?? undefined,
      },
      { signal, onProgress: reportProgress },
    );
    const prompt = payload.prompts.filter((p) => p.weight > 0).map((p) => p.text).join(', ');
    const negative = payload.prompts.filter((p) => p.weight < 0).map((p) => p.text).join(', ');
    const items: ImageItem[] = [];
    for (const [i, image] of images.entries()) {
      if (signal.aborted) throw signal.reason ?? new Error('aborted');
      const text = parametersText({
        prompt,
        negativePrompt: negative,
        steps: payload.steps,
        sampler: payload.sampler ?? model.defaultSampler,
        cfgScale: payload.cfgScale,
        seed: image.seed,
        width: payload.width,
        height: payload.height,
        model: model.name,
        style: payload.style,
      });
      const encoded = await encodeImage(image, { width: payload.width, height: payload.height }, text);
      const key = `${payload.aiVersionCode}/${fileId(job.id, i)}.png`;
      const thumbKey = `${key}.thumbnail.jpg`;
      keys.push(key, thumbKey);
      await this.deps.storage.put(key, encoded.png);
      await this.deps.storage.put(thumbKey, encoded.thumbnail);
      items.push({
        url: `${this.deps.publicUrl}/storage/${key}`,
        thumbnail_url: `${this.deps.publicUrl}/storage/${thumbKey}`,
        dimensions: `${encoded.width}x${encoded.height}`,
        filesize: encoded.png.length,
        seed: image.seed,
        finish_reason: 'SUCCESS',
      });
    }
    return items;
  }

  private async complete(job: ClaimedJob, payload: GenerationPayload, items: ImageItem[], keys: string[]): Promise<JobOutcome> {
    try {
      await this.deps.db.transaction().execute(async (trx) => {
        await lockThread(trx, payload.threadId); // thread → job → user, the lock order of every writer
        if (!(await this.deps.queue.finish(trx, job, 'done'))) throw new LeaseLost();
        await this.writeResponse(trx, payload, { content: items, error: null, credits: payload.cost, files: keys, status: 'done' });
        await this.deps.credits.charge(trx, payload.userId, payload.cost, payload.entryId);
      });
      return 'done';
    } catch (err) {
      if (err instanceof LeaseLost) {
        // Cancelled (thread deleted) or taken over: the files are not referenced by any entry.
        await Promise.all(keys.map((k) => this.deps.storage.delete(k).catch(() => undefined)));
        return 'lost';
      }
      throw err;
    }
  }

  private async fail(job: ClaimedJob, payload: GenerationPayload, message: string): Promise<JobOutcome> {
    try {
      await this.deps.db.transaction().execute(async (trx) => {
        await lockThread(trx, payload.threadId); // thread → job → user, the lock order of every writer
        if (!(await this.deps.queue.finish(trx, job, 'failed', message))) throw new LeaseLost();
        await this.writeResponse(trx, payload, { content: [], error: message, credits: 0, files: [], status: 'failed' });
        await this.deps.credits.refund(trx, payload.userId, payload.cost, payload.entryId, 'Refunded: image generation failed.');
      });
      return 'failed';
    } catch (err) {
      if (err instanceof LeaseLost) return 'lost';
      throw err;
    }
  }

  private async writeResponse(
    trx: Kysely<Database>,
    payload: GenerationPayload,
    response: { content: ImageItem[]; error: string | null; credits: number; files: string[]; status: 'done' | 'failed' },
  ): Promise<void> {
    const now = new Date().toISOString();
    await insertEntry(trx, {
      id: randomUUID(),
      thread_id: payload.threadId,
      user_id: payload.userId,
      type: 'response',
      request_id: payload.entryId,
      content: JSON.stringify(response.content),
      error: response.error,
      waiting_response: 0,
      credits: response.credits,
      status: response.status,
      progress: null,
      files: JSON.stringify(response.files),
      created_at: now,
      updated_at: now,
    });
    await trx
      .updateTable('entries')
      .set({ waiting_response: 0, status: response.status, progress: null, updated_at: now })
      .where('id', '=', payload.entryId)
      .execute();
    await trx.updateTable('threads').set({ updated_at: now }).where('id', '=', payload.threadId).execute();
  }

  /**
   * Writes progress to the request entry at most every `progressIntervalMs`, one write at a time. Steps are
   * reported on the request's scale (some samplers, e.g. PNDM, make one model call more than the steps asked).
   */
  private progressWriter(entryId: string, steps: number): (p: GenerationProgress) => void {
    const interval = this.deps.progressIntervalMs ?? 250;
    let last = 0;
    let writing = false;
    return (p) => {
      const now = Date.now();
      const final = p.step === p.steps && p.image === p.images - 1;
      if (writing || (!final && now - last < interval)) return;
      last = now;
      writing = true;
      const step = p.steps === steps ? p.step : Math.min(steps, Math.round((p.step / p.steps) * steps));
      const progress: Progress = { step, steps, image: p.image, images: p.images };
      this.deps.db
        .updateTable('entries')
        .set({ progress: JSON.stringify(progress) })
        .where('id', '=', entryId)
        .where('status', '=', 'running')
        .execute()
        .catch(() => undefined)
        .finally(() => {
          writing = false;
        });
    };
  }
}

/** A stable UUID-shaped file id for image `index` of `jobId`. */
export function fileId(jobId: string, index: number): string {
  const h = createHash('sha256').update(`${jobId}:${index}`).digest();
  h[6] = (h[6] & 0x0f) | 0x40;
  h[8] = (h[8] & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
