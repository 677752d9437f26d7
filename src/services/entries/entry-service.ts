/**
 * Thread entries, and every state change of a request entry in one place (lifecycle events will be emitted
 * here): accepted (queued: checked, priced, paid for and queued in one transaction) → running → done (response
 * entry + charge) | failed (error response + refund) | cancelled (thread deleted: job cancelled + refund).
 */
import { randomInt, randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../../domain/clock.ts';
import type { Entry, ImageItem, Progress } from '../../domain/entry.ts';
import { AppError } from '../../domain/errors.ts';
import { parseResolution, SEED_MAX, type GenerationRequest } from '../../domain/generation-request.ts';
import { isUuid } from '../../domain/ids.ts';
import { pageWindow, type Page, type Paged } from '../../domain/pagination.ts';
import type { JOB_DEFINITIONS } from '../../domain/jobs.ts';
import type { ClaimedJob, FinalJobStatus, JobQueue, LeasedJob } from '../../queue/job-queue.ts';
import type { DataStore } from '../../store/database.ts';
import type { EntryListRow } from '../../store/repositories/entries.repo.ts';
import type { Repositories } from '../../store/repositories/repositories.ts';
import type { CreditService } from '../credits/credit-service.ts';
import { requestCost } from '../credits/pricing.ts';
import type { EngineCatalog } from '../generation/engine-catalog.ts';
import type { GenerationProgress } from '../generation/image-generator.ts';
import { checkQueueRoom } from '../jobs/scheduling-service.ts';
import { findAiVersion } from '../threads/ai-versions.ts';
import { titleFromPrompt } from '../threads/thread-title.ts';
import { checkGenerationRequest, type RequestSubmission } from './request-check.ts';

export type GenerateJob = ClaimedJob<typeof JOB_DEFINITIONS, 'generate'>;

/** A delivered image as the account's gallery lists it. */
export interface GalleryImage {
  /** The request entry it answers. */
  entryId: string;
  responseId: string;
  threadId: string;
  threadTitle: string;
  position: number;
  url: string;
  thumbnailUrl: string;
  dimensions: string;
  filesize: number;
  seed: number;
  prompt: string;
  createdAt: string;
}

export interface EntryServiceDeps {
  store: DataStore;
  queue: JobQueue;
  credits: CreditService;
  engines: EngineCatalog;
  clock?: Clock;
  /** Minimum time between two progress writes. */
  progressIntervalMs?: number;
}

/** Thrown inside a final transaction when the job's lease is gone, to roll the transaction back. */
class LeaseLost extends Error {}

export class EntryService {
  readonly #clock: Clock;

  constructor(private readonly deps: EntryServiceDeps) {
    this.#clock = deps.clock ?? systemClock;
  }

  /** What the request would cost, after the same one-pass check as createRequest() (the same 422). */
  async quote(submission: RequestSubmission): Promise<{ credits: number; request: GenerationRequest }> {
    const { request } = checkGenerationRequest(submission, this.deps.engines);
    return { credits: costOf(request), request };
  }

  /**
   * Checks the request (one 422 naming every bad field), reserves its credits and queues it; returns the request
   * entry. The first request of a thread that still has its default title names the thread after its prompt.
   */
  async createRequest(userId: string, submission: RequestSubmission & { threadId: string }): Promise<Entry> {
    const { request, engine } = checkGenerationRequest(submission, this.deps.engines);
    const thread = isUuid(submission.threadId) ? await this.deps.store.repos.threads.find(userId, submission.threadId) : undefined;
    if (!thread) throw new AppError('not_found', 'Thread not found.');
    const cost = costOf(request);
    // The seed is decided once, here: absent or 0 means random. The entry keeps what the caller asked for.
    const seed = request.seed ? request.seed : randomInt(1, SEED_MAX);
    const now = this.#clock().toISOString();
    const id = randomUUID();
    const row = await this.deps.store.transaction(async (tx) => {
      // The thread may have been deleted since it was read (DELETE racing this request): re-read it under its lock,
      // so the request is a 404 rather than an entry (and a reservation) in a deleted thread.
      await tx.threads.lock(thread.id);
      const current = await tx.threads.find(userId, thread.id);
      if (!current) throw new AppError('not_found', 'Thread not found.');
      const inserted = await tx.entries.insert({
        id,
        thread_id: thread.id,
        user_id: userId,
        type: 'request',
        request_id: null,
        content: JSON.stringify(request),
        error: null,
        waiting_response: 1,
        credits: 0,
        status: 'queued',
        progress: null,
        files: '[]',
        created_at: now,
        updated_at: now,
      });
      // Before the reservation: a request over the account's max_queued is refused (429) with nothing held.
      await checkQueueRoom(tx, userId);
      await this.deps.credits.reserve(tx, { userId, cost, entryId: id });
      await this.deps.queue.enqueue(tx, {
        kind: 'generate',
        payload: { entryId: id, threadId: thread.id, userId, aiVersionCode: thread.ai_version_code, request, seed, cost, engine: engine.id },
        entryId: id,
        userId,
        engine: engine.id,
        cost,
      });
      const title = titleFromPrompt(request.prompts.find((p) => p.weight > 0)?.text ?? '');
      if (Number(inserted.seq) === 1 && title && current.title === findAiVersion(current.ai_version_code)?.title) {
        await tx.threads.setTitle(userId, thread.id, { title, updatedAt: now });
      }
      await tx.threads.entriesChanged(userId, thread.id, { updatedAt: now });
      return inserted;
    });
    this.deps.queue.wake();
    return toEntry(row);
  }

  /** Every image the account has, newest first. */
  async images(userId: string, page: Page): Promise<Paged<GalleryImage>> {
    const { page: current, perPage, offset } = pageWindow(page, 100);
    const [rows, total] = await Promise.all([this.deps.store.repos.images.list(userId, { limit: perPage, offset }), this.deps.store.repos.images.count(userId)]);
    return {
      items: rows.map((r) => ({
        entryId: r.request_id,
        responseId: r.response_id,
        threadId: r.thread_id,
        threadTitle: r.thread_title,
        position: Number(r.position),
        url: r.url,
        thumbnailUrl: r.thumbnail_url,
        dimensions: r.dimensions,
        filesize: Number(r.filesize),
        seed: Number(r.seed),
        prompt: r.prompt,
        createdAt: r.created_at,
      })),
      total,
      page: current,
      perPage,
    };
  }

  /** Request and response entries of a thread, in the order they were written. */
  async list(userId: string, threadId: string): Promise<Entry[]> {
    return (await this.listVersioned(userId, threadId)).entries;
  }

  /** The entries with the thread's entries version: the list is at least as new as that version (see version()). */
  async listVersioned(userId: string, threadId: string): Promise<{ version: number; entries: Entry[] }> {
    const found = isUuid(threadId) ? await this.deps.store.repos.entries.listForThread(userId, threadId) : undefined;
    if (!found) throw new AppError('not_found', 'Thread not found.');
    return { version: found.version, entries: found.rows.map(toEntry) };
  }

  /**
   * A number that grows with every change to the thread's entries (new entry, status, progress): a list read at
   * version v is still current while this returns v. One primary-key read; 404 for a thread the user does not have.
   */
  async version(userId: string, threadId: string): Promise<number> {
    const version = isUuid(threadId) ? await this.deps.store.repos.threads.entriesVersion(userId, threadId) : undefined;
    if (version === undefined) throw new AppError('not_found', 'Thread not found.');
    return version;
  }

  /** queued → running; false when the request is gone (its thread was deleted) or already final. */
  async start(job: GenerateJob): Promise<boolean> {
    const { userId, entryId, threadId } = job.payload;
    const started = await this.deps.store.repos.entries.markRunning(userId, entryId, this.#clock().toISOString());
    if (started) await this.deps.store.repos.threads.entriesChanged(userId, threadId);
    return started;
  }

  /**
   * Writes progress to the request entry at most every `progressIntervalMs`, one write at a time. Steps are
   * reported on the request's scale (some samplers make one model call more than the steps asked).
   */
  progressReporter(job: GenerateJob): (progress: GenerationProgress) => void {
    const { userId, entryId, threadId, request } = job.payload;
    const interval = this.deps.progressIntervalMs ?? 250;
    let last = 0;
    let writing = false;
    return (p) => {
      const now = this.#clock().getTime();
      const final = p.step === p.steps && p.image === p.images - 1;
      if (writing || (!final && now - last < interval)) return;
      last = now;
      writing = true;
      const step = p.steps === request.steps ? p.step : Math.min(request.steps, Math.round((p.step / p.steps) * request.steps));
      const progress: Progress = { step, steps: request.steps, image: p.image, images: p.images };
      this.deps.store.repos.entries
        .setProgress(userId, entryId, JSON.stringify(progress))
        .then(() => this.deps.store.repos.threads.entriesChanged(userId, threadId))
        .catch(() => undefined)
        .finally(() => {
          writing = false;
        });
    };
  }

  /** running → done: the response entry with the images, and the charge, exactly once (guarded by the job lease). */
  async complete(job: GenerateJob, produced: { items: ImageItem[]; files: string[] }): Promise<'done' | 'lost'> {
    const { userId, entryId, cost } = job.payload;
    const finished = await this.#finish(job, { threadId: job.payload.threadId, userId, status: 'done' }, async (tx, now) => {
      const responseId = await this.#respond(tx, job.payload, { content: produced.items, error: null, credits: cost, files: produced.files, status: 'done', now });
      const prompt = job.payload.request.prompts
        .filter((p) => p.weight > 0)
        .map((p) => p.text)
        .join(', ');
      await tx.images.insertMany(
        produced.items.map((item, position) => ({
          id: `${responseId}:${position}`,
          user_id: userId,
          thread_id: job.payload.threadId,
          request_id: entryId,
          response_id: responseId,
          position,
          url: item.url,
          thumbnail_url: item.thumbnail_url,
          dimensions: item.dimensions,
          filesize: item.filesize,
          seed: item.seed,
          prompt: prompt.slice(0, 2000),
          created_at: now,
        })),
      );
      await this.deps.credits.charge(tx, { userId, cost, entryId });
    });
    return finished ? 'done' : 'lost';
  }

  /** running → failed: an error response entry and the refund, exactly once. */
  async fail(job: GenerateJob, message: string): Promise<'failed' | 'lost'> {
    const { userId, entryId } = job.payload;
    const finished = await this.#finish(job, { threadId: job.payload.threadId, userId, status: 'failed', error: message }, async (tx, now) => {
      await this.#respond(tx, job.payload, { content: [], error: message, credits: 0, files: [], status: 'failed', now });
      await this.deps.credits.refundHeld(tx, { userId, entryId, reason: 'Refunded: image generation failed.' });
    });
    return finished ? 'failed' : 'lost';
  }

  /** The request entry is gone (its thread was deleted): the job has nothing left to answer. */
  async abandon(job: GenerateJob): Promise<'lost'> {
    await this.deps.store.transaction((tx) => this.deps.queue.finish(tx, job, { status: 'cancelled', error: 'The request entry no longer exists.' }));
    return 'lost';
  }

  /**
   * A generate job whose stored payload this worker cannot read: fail it from what the job row itself knows (its
   * entry and user), with an error response and a refund of whatever is still held. `reason` goes to the logs only.
   */
  async failUnreadable(job: LeasedJob, reason: string): Promise<void> {
    const request = job.userId && job.entryId ? await this.deps.store.repos.entries.findRequest(job.userId, job.entryId) : undefined;
    const message = 'Image generation failed: the request could not be read.';
    await this.#finish(job, { threadId: request?.thread_id, userId: job.userId ?? '', status: 'failed', error: reason }, async (tx, now) => {
      if (!request || !job.userId) return;
      const target = { entryId: request.id, threadId: request.thread_id, userId: job.userId };
      await this.#respond(tx, target, { content: [], error: message, credits: 0, files: [], status: 'failed', now });
      await this.deps.credits.refundHeld(tx, { userId: job.userId, entryId: request.id, reason: 'Refunded: image generation failed.' });
    });
  }

  /**
   * Fails the requests that waited longer than `timeoutMs` for an engine that no worker served in that time
   * (`servedEngines`: the engines of workers seen since), each with a clear message and a refund. Safe to run in
   * several processes at once: a job is failed only while still pending, by one conditional UPDATE, in the same
   * transaction as its response entry and refund. Returns how many requests it failed.
   */
  async expireUnserved(options: { timeoutMs: number; servedEngines: readonly string[]; limit?: number }): Promise<number> {
    const now = this.#clock();
    const createdBefore = new Date(now.getTime() - options.timeoutMs).toISOString();
    const jobs = await this.deps.store.repos.jobs.unservedPending({ createdBefore, servedEngines: options.servedEngines, limit: options.limit ?? 100 });
    let expired = 0;
    for (const job of jobs) {
      const message = `No worker served engine ${job.engine ?? 'unknown'} for ${formatDuration(options.timeoutMs)}; the request was cancelled and refunded.`;
      const request = job.user_id && job.entry_id ? await this.deps.store.repos.entries.findRequest(job.user_id, job.entry_id) : undefined;
      const done = await this.deps.store.transaction(async (tx) => {
        if (request) await tx.threads.lock(request.thread_id); // thread → job → user, the lock order of every writer
        if (!(await this.deps.queue.finishPending(tx, job.id, { status: 'failed', error: message }))) return false;
        if (!request) return true;
        const target = { entryId: request.id, threadId: request.thread_id, userId: request.user_id };
        await this.#respond(tx, target, { content: [], error: message, credits: 0, files: [], status: 'failed', now: this.#clock().toISOString() });
        await this.deps.credits.refundHeld(tx, { userId: request.user_id, entryId: request.id, reason: 'Refunded: no worker served the engine.' });
        return true;
      });
      if (done) expired += 1;
    }
    return expired;
  }

  /**
   * Inside the thread's deletion: cancels the unfinished jobs of its entries, refunds what they hold and deletes the
   * entries; returns the storage keys of their files (deleted once the transaction committed).
   */
  async removeForThread(tx: Repositories, userId: string, threadId: string): Promise<string[]> {
    const entries = await tx.entries.filesForThread(userId, threadId);
    const cancelled = await this.deps.queue.cancelForEntries(
      tx,
      userId,
      entries.map((e) => e.id),
    );
    for (const entryId of cancelled) {
      await this.deps.credits.refundHeld(tx, { userId, entryId, reason: 'Refunded: the thread was deleted before the images were delivered.' });
    }
    await tx.images.deleteForThread(userId, threadId);
    await tx.entries.deleteForThread(userId, threadId);
    return entries.flatMap((e) => parseFiles(e.files));
  }

  /**
   * Inside a transaction: deletes one request entry (given its guid or its response's) with its response and
   * images; a request still queued or running is cancelled and refunded. Returns the storage keys of the files
   * (deleted once the transaction committed); 404 when the thread has no such entry for this user.
   */
  async removeRequest(tx: Repositories, userId: string, threadId: string, entryId: string): Promise<string[]> {
    const found = isUuid(entryId) ? await tx.entries.findInThread(userId, threadId, entryId) : undefined;
    const requestId = found ? (found.type === 'request' ? found.id : found.request_id) : null;
    if (!requestId) throw new AppError('not_found', 'Entry not found.');
    const entries = await tx.entries.filesForRequest(userId, requestId);
    const cancelled = await this.deps.queue.cancelForEntries(tx, userId, [requestId]);
    for (const id of cancelled) {
      await this.deps.credits.refundHeld(tx, { userId, entryId: id, reason: 'Refunded: the request was deleted before the images were delivered.' });
    }
    await tx.images.deleteForRequest(userId, requestId);
    await tx.entries.deleteRequest(userId, requestId);
    await tx.threads.entriesChanged(userId, threadId);
    return entries.flatMap((e) => parseFiles(e.files));
  }

  /** Runs `write` in one transaction with the job's final state; false (nothing written) when the lease is gone. */
  async #finish(
    job: LeasedJob,
    target: { threadId: string | undefined; userId: string; status: FinalJobStatus; error?: string },
    write: (tx: Repositories, now: string) => Promise<void>,
  ): Promise<boolean> {
    try {
      await this.deps.store.transaction(async (tx) => {
        if (target.threadId) await tx.threads.lock(target.threadId); // thread → job → user, the lock order of every writer
        if (!(await this.deps.queue.finish(tx, job, { status: target.status, error: target.error }))) throw new LeaseLost();
        await write(tx, this.#clock().toISOString());
      });
      return true;
    } catch (err) {
      if (err instanceof LeaseLost) return false;
      throw err;
    }
  }

  /** Writes the response entry of a request and settles the request. */
  async #respond(
    tx: Repositories,
    target: { entryId: string; threadId: string; userId: string },
    response: { content: ImageItem[]; error: string | null; credits: number; files: string[]; status: 'done' | 'failed'; now: string },
  ): Promise<string> {
    const id = randomUUID();
    await tx.entries.insert({
      id,
      thread_id: target.threadId,
      user_id: target.userId,
      type: 'response',
      request_id: target.entryId,
      content: JSON.stringify(response.content),
      error: response.error,
      waiting_response: 0,
      credits: response.credits,
      status: response.status,
      progress: null,
      files: JSON.stringify(response.files),
      created_at: response.now,
      updated_at: response.now,
    });
    await tx.entries.settle(target.userId, target.entryId, { status: response.status, updatedAt: response.now });
    await tx.threads.entriesChanged(target.userId, target.threadId, { updatedAt: response.now });
    return id;
  }
}

/** The price of a checked request (services/credits/pricing.ts). */
function costOf(request: GenerationRequest): number {
  const size = parseResolution(request.resolution) ?? { width: 0, height: 0 };
  return requestCost({ images: request.images, steps: request.steps, width: size.width, height: size.height });
}

/** 3 600 000 → "1 h", 5 400 000 → "1 h 30 min", 90 000 → "1 min 30 s". */
export function formatDuration(ms: number): string {
  const units: [number, string][] = [[86_400_000, 'd'], [3_600_000, 'h'], [60_000, 'min'], [1000, 's']];
  const parts: string[] = [];
  let rest = Math.round(ms);
  for (const [size, name] of units) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)} ${name}`);
      rest %= size;
    }
  }
  return parts.length > 0 ? parts.slice(0, 2).join(' ') : `${rest} ms`;
}

function parseFiles(text: string): string[] {
  const files: unknown = JSON.parse(text);
  return Array.isArray(files) ? files.filter((f): f is string => typeof f === 'string') : [];
}

/** A stored row as the domain sees it; `content` is JSON the service itself wrote (a request, or the response's images). */
export function toEntry(row: EntryListRow): Entry {
  const common = {
    id: row.id,
    threadId: row.thread_id,
    error: row.error,
    waitingResponse: Number(row.waiting_response) === 1,
    credits: Number(row.credits),
    status: row.status,
    progress: row.progress ? (JSON.parse(row.progress) as Progress) : null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
  if (row.type === 'request') return { ...common, type: 'request', requestId: null, content: JSON.parse(row.content) as GenerationRequest };
  return { ...common, type: 'response', requestId: row.request_id ?? '', content: JSON.parse(row.content) as ImageItem[] };
}
