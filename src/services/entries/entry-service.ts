/**
 * Thread entries, and every state change of a request entry in one place, each published as a lifecycle event
 * (EntryEvents) once it is committed: accepted (queued: checked, priced, paid for and queued in one transaction) →
 * running → done (response entry + charge) | failed (error response + refund) | cancelled (by the client: a queued
 * one refunded in full, a running one stopped at the next step with its finished images charged per image; or its
 * thread or entry deleted: job cancelled + refund).
 */
import { randomInt, randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../../domain/clock.ts';
import type { Entry, ImageItem, Progress } from '../../domain/entry.ts';
import { AppError, isAppError, type FieldErrors } from '../../domain/errors.ts';
import { parseResolution, SEED_MAX, type GenerationRequest } from '../../domain/generation-request.ts';
import { isUuid } from '../../domain/ids.ts';
import { pageWindow, type Page, type Paged } from '../../domain/pagination.ts';
import type { JOB_DEFINITIONS } from '../../domain/jobs.ts';
import type { WebhookEventType } from '../../domain/webhooks.ts';
import type { ClaimedJob, FinalJobStatus, JobQueue, LeasedJob } from '../../queue/job-queue.ts';
import type { FileStorage } from '../../storage/file-storage.ts';
import type { DataStore } from '../../store/database.ts';
import type { EntryListRow } from '../../store/repositories/entries.repo.ts';
import type { Repositories } from '../../store/repositories/repositories.ts';
import type { CreditService } from '../credits/credit-service.ts';
import { requestCost } from '../credits/pricing.ts';
import type { EngineCatalog } from '../generation/engine-catalog.ts';
import { fingerprint, type IdempotencyClaim, type IdempotencyService } from '../idempotency/idempotency.ts';
import type { EntryEventInput } from '../../domain/entry-events.ts';
import type { EntryEvents } from '../events/entry-events.ts';
import { previewDataUrl } from '../generation/image-encoder.ts';
import type { GenerationProgress, PreviewImage } from '../generation/image-generator.ts';
import type { CancelWatch } from '../jobs/cancel-watch.ts';
import { queuePositions } from '../jobs/queue-position.ts';
import { StepTimes } from '../jobs/step-times.ts';
import { checkQueueRoom } from '../jobs/scheduling-service.ts';
import { findAiVersion, type AiVersion } from '../threads/ai-versions.ts';
import { titleFromPrompt } from '../threads/thread-title.ts';
import { toEntry } from './entry-rows.ts';
import { decodeInputImage, INPUT_FOLDER, InputImageError, loadInputBytes, type DecodedInput } from './input-images.ts';
import { checkGenerationRequest, type CheckedRequest, type InputImageFacts, type RequestSubmission } from './request-check.ts';
import type { WebhookOutbox, WebhookTarget } from '../webhooks/webhook-outbox.ts';

export { toEntry };

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
  /** Where input images (init_image, mask_image) are copied, next to the generated files. */
  storage: FileStorage;
  /** Absolute base of image URLs, without the trailing slash. */
  publicUrl: string;
  /** The lifecycle publisher: every state change below is published there. */
  events: EntryEvents;
  /** Tells a running job's worker that its client cancelled it. */
  cancels: CancelWatch;
  clock?: Clock;
  /** Minimum time between two progress writes. */
  progressIntervalMs?: number;
  /** Minimum time between two previews of one request (the limit: 2 per second). */
  previewIntervalMs?: number;
  /** Webhooks: request fields checked, lifecycle events queued for delivery. */
  webhooks?: WebhookOutbox;
  /** Idempotency-Key support for createRequest(). */
  idempotency?: IdempotencyService;
}

/** Who sends a request, beyond the account. */
export interface SubmitOptions {
  /** The application of the bearer token (webhooks are signed with its secret); none for browser sessions. */
  applicationId?: string;
  /** The request's Idempotency-Key (checked by checkIdempotencyKey()). */
  idempotencyKey?: string;
}

/** Reports a job's progress (throttled, see progressReporter()); settled() waits for the writes in flight. */
export type ProgressReporter = ((progress: GenerationProgress) => void) & { settled(): Promise<void> };

export interface CancelResult {
  entry: Entry;
  /** `cancelled`: it was queued and is cancelled and refunded; `stopping`: it runs and stops at the next step. */
  state: 'cancelled' | 'stopping';
}

/** Thrown inside a final transaction when the job's lease is gone, to roll the transaction back. */
class LeaseLost extends Error {}

export class EntryService {
  readonly #clock: Clock;
  readonly #stepTimes = new StepTimes();

  constructor(private readonly deps: EntryServiceDeps) {
    this.#clock = deps.clock ?? systemClock;
  }

  /** What the request would cost, after the same one-pass check as createRequest() (the same 422, webhook included). */
  async quote(userId: string, submission: RequestSubmission, options: Pick<SubmitOptions, 'applicationId'> = {}): Promise<{ credits: number; request: GenerationRequest }> {
    const { checked } = await this.#check(userId, submission, options, undefined);
    return { credits: costOf(checked), request: checked.request };
  }

  /**
   * Checks the request (one 422 naming every bad field), reserves its credits and queues it; returns the request
   * entry. The first request of a thread that still has its default title names the thread after its prompt.
   */
  async createRequest(userId: string, submission: RequestSubmission & { threadId: string }, options: SubmitOptions = {}): Promise<Entry> {
    return (await this.submit(userId, submission, options)).entry;
  }

  /**
   * createRequest() with its webhook and Idempotency-Key: `replayed` when the key's first request already made the
   * entry (returned as it was then; nothing is charged again).
   */
  async submit(userId: string, submission: RequestSubmission & { threadId: string }, options: SubmitOptions = {}): Promise<{ entry: Entry; replayed: boolean }> {
    // The thread's kind (text, image, inpainting) decides which image fields its requests take.
    const thread = isUuid(submission.threadId) ? await this.deps.store.repos.threads.find(userId, submission.threadId) : undefined;
    const { checked, target, decoded } = await this.#check(userId, submission, options, thread?.ai_version_code);
    const { idempotency } = this.deps;
    if (options.idempotencyKey === undefined || !idempotency) return { entry: await this.#create(userId, submission.threadId, checked, target, decoded), replayed: false };
    const print = fingerprint('POST /threads/{guid}/entry', { thread: submission.threadId, request: checked.request, webhook: target && { url: target.url, events: target.events } });
    const outcome = await idempotency.run(
      { userId, key: options.idempotencyKey, fingerprint: print },
      async (claim) => ({ status: 201, value: await this.#create(userId, submission.threadId, checked, target, decoded, claim) }),
      (json) => json as Entry, // the stored result is the Entry this service wrote
    );
    const entry = outcome.result.value;
    if (!outcome.replayed || entry.status !== 'queued') return { entry, replayed: outcome.replayed };
    // The stored answer predates its queue position (read after commit): a replay gets the current one, as the first did.
    const position = (await this.queuePositions([entry])).get(entry.id);
    return { entry: position === undefined ? entry : { ...entry, queuePosition: position }, replayed: true };
  }

  /**
   * The request's rules, its images and its webhook fields, in one pass: one 422 naming every bad field. The images
   * are read (inline, or the user's own image by url or guid) and decoded first, so a bad image is one more field in
   * the same 422, and nothing is charged or stored for it.
   */
  async #check(
    userId: string,
    submission: RequestSubmission,
    options: SubmitOptions,
    aiVersionCode: string | undefined,
  ): Promise<{ checked: CheckedRequest; target?: WebhookTarget; decoded: DecodedInputs }> {
    let checked: CheckedRequest | undefined;
    let errors: FieldErrors = {};
    const inputs = aiVersionCode === undefined ? undefined : (findAiVersion(aiVersionCode)?.inputs ?? 'text');
    const { facts, decoded } = await this.#decodeImages(userId, submission, inputs);
    try {
      checked = checkGenerationRequest(submission, this.deps.engines, { inputs, images: facts });
    } catch (err) {
      if (!(isAppError(err) && err.code === 'validation_failed' && err.fields)) throw err;
      errors = { ...err.fields };
    }
    const body = submission.body;
    let target: WebhookTarget | undefined;
    const malformed = Object.keys(errors).some((k) => k === 'body' || k.startsWith('webhook'));
    if (!malformed && typeof body === 'object' && body !== null && body.webhook !== undefined && body.webhook !== '') {
      if (!this.deps.webhooks) errors.webhook = ['Webhooks are not available on this server.'];
      else {
        const found = await this.deps.webhooks.checkTarget(body, options.applicationId);
        target = found.target;
        errors = { ...errors, ...found.errors };
      }
    }
    if (Object.keys(errors).length > 0 || !checked) throw AppError.validation(errors);
    return { checked, target, decoded };
  }

  /** Reads and decodes the body's images; a text thread refuses them without reading them. */
  async #decodeImages(userId: string, submission: RequestSubmission, inputs: AiVersion['inputs'] | undefined): Promise<{ facts: InputImageFacts; decoded: DecodedInputs }> {
    const body = submission.body as Partial<RequestSubmission['body']> | null;
    const schemaErrors = submission.schemaErrors ?? {};
    const facts: InputImageFacts = { errors: {} };
    const decoded: DecodedInputs = {};
    if (inputs === 'text' || typeof body !== 'object' || body === null || Array.isArray(body)) return { facts, decoded };
    const read = async (field: 'init_image' | 'mask_image', keepAlpha: boolean): Promise<DecodedInput | undefined> => {
      const text = body[field];
      if (typeof text !== 'string' || schemaErrors[field]) return undefined;
      try {
        return await decodeInputImage(await loadInputBytes(text, userId, { repos: this.deps.store.repos, storage: this.deps.storage }), { keepAlpha });
      } catch (err) {
        if (!(err instanceof InputImageError)) throw err;
        (facts.errors ??= {})[field] = [`The ${field} is not usable: ${err.message}`];
        return undefined;
      }
    };
    const [init, mask] = await Promise.all([read('init_image', true), inputs === 'image' ? undefined : read('mask_image', false)]);
    if (init) {
      decoded.init = init;
      facts.init = { width: init.width, height: init.height, hasAlpha: init.hasAlpha };
    }
    if (mask) {
      decoded.mask = mask;
      facts.mask = { width: mask.width, height: mask.height };
    }
    return { facts, decoded };
  }

  /** The request's own copies of its images: what the worker reads and what the request entry shows (their urls). */
  async #storeInputs(decoded: DecodedInputs): Promise<{ init?: StoredInput; mask?: StoredInput }> {
    const out: { init?: StoredInput; mask?: StoredInput } = {};
    for (const field of ['init', 'mask'] as const) {
      const image = decoded[field];
      if (!image) continue;
      const guid = randomUUID();
      const key = `${INPUT_FOLDER}/${guid}.png`;
      await this.deps.storage.put(key, image.png);
      out[field] = { guid, key, url: `${this.deps.publicUrl}/storage/${key}`, width: image.width, height: image.height };
    }
    return out;
  }

  async #create(userId: string, threadId: string, checked: CheckedRequest, target: WebhookTarget | undefined, decoded: DecodedInputs, claim?: IdempotencyClaim): Promise<Entry> {
    const { engine } = checked;
    const thread = isUuid(threadId) ? await this.deps.store.repos.threads.find(userId, threadId) : undefined;
    if (!thread) throw new AppError('not_found', 'Thread not found.');
    const cost = costOf(checked);
    const stored = await this.#storeInputs(decoded);
    const request: GenerationRequest = { ...checked.request };
    if (stored.init) request.init_image = stored.init.url;
    if (stored.mask) request.mask_image = stored.mask.url;
    const inputKeys = stored.init ? { inputs: { init: stored.init.key, ...(stored.mask ? { mask: stored.mask.key } : {}) } } : {};
    const files = [stored.init, stored.mask].filter((f) => f !== undefined);
    try {
      return await this.#insert(userId, thread, { request, engine: engine.id, cost, target, claim, inputKeys, files });
    } catch (err) {
      // Nothing references the copies of a request that was not made (too few credits, a deleted thread).
      await Promise.all(files.map((f) => this.deps.storage.delete(f.key).catch(() => undefined)));
      throw err;
    }
  }

  async #insert(
    userId: string,
    thread: { id: string; ai_version_code: string },
    r: { request: GenerationRequest; engine: string; cost: number; target: WebhookTarget | undefined; claim?: IdempotencyClaim; inputKeys: { inputs?: { init: string; mask?: string } }; files: StoredInput[] },
  ): Promise<Entry> {
    const { request, cost, target, claim } = r;
    // The seed is decided once, here: absent or 0 means random. The entry keeps what the caller asked for.
    const seed = request.seed ? request.seed : randomInt(1, SEED_MAX);
    const now = this.#clock().toISOString();
    const id = randomUUID();
    const entry = await this.deps.store.transaction(async (tx) => {
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
        files: JSON.stringify(r.files.map((f) => f.key)),
        created_at: now,
        updated_at: now,
      });
      await tx.inputImages.insertMany(r.files.map((f) => ({ id: f.guid, user_id: userId, request_id: id, key: f.key, width: f.width, height: f.height, created_at: now })));
      // Before the reservation: a request over the account's max_queued is refused (429) with nothing held.
      await checkQueueRoom(tx, userId);
      await this.deps.credits.reserve(tx, { userId, cost, entryId: id });
      await this.deps.queue.enqueue(tx, {
        kind: 'generate',
        payload: { entryId: id, threadId: thread.id, userId, aiVersionCode: thread.ai_version_code, request, seed, cost, engine: r.engine, ...r.inputKeys },
        entryId: id,
        userId,
        engine: r.engine,
        cost,
      });
      if (target) await this.deps.webhooks?.attach(tx, userId, id, target);
      const title = titleFromPrompt(request.prompts.find((p) => p.weight > 0)?.text ?? '');
      if (Number(inserted.seq) === 1 && title && current.title === findAiVersion(current.ai_version_code)?.title) {
        await tx.threads.setTitle(userId, thread.id, { title, updatedAt: now });
      }
      await tx.threads.entriesChanged(userId, thread.id, { updatedAt: now });
      const created = toEntry(inserted);
      // The key's result commits with the entry, its reservation and its job, or not at all.
      if (claim) await this.deps.idempotency?.complete(tx, claim, { status: 201, value: created });
      // `queued` is numbered in this transaction: a worker can claim the job as soon as it commits, and its `started`
      // must come after this event in the thread's stream.
      const position = (await queuePositions(tx, [id]).catch(() => undefined))?.get(id);
      const queued = await this.deps.events.record(tx, { type: 'queued', userId, threadId: thread.id, entryId: id, data: { queuePosition: position ?? 0 } });
      return { created, position, queued };
    });
    this.deps.events.announce(entry.queued);
    this.deps.queue.wake();
    return { ...entry.created, ...(entry.position === undefined ? {} : { queuePosition: entry.position }) };
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
   * The queued entries' queue positions (entry id → jobs ahead). They change when other accounts' jobs start, which
   * does not touch this thread's version, so they are read fresh for each list that has queued entries.
   */
  queuePositions(entries: readonly Entry[]): Promise<Map<string, number>> {
    const queued = entries.filter((e) => e.type === 'request' && e.status === 'queued').map((e) => e.id);
    return queued.length === 0 ? Promise.resolve(new Map()) : queuePositions(this.deps.store.repos, queued);
  }

  /** One request entry of the thread (its own guid, or its response's), with its response entry when it has one. */
  async findRequest(userId: string, threadId: string, entryId: string): Promise<{ request: Entry; response: Entry | undefined }> {
    const { entries } = await this.listVersioned(userId, threadId);
    const found = isUuid(entryId) ? entries.find((e) => e.id === entryId) : undefined;
    const requestId = found ? (found.type === 'request' ? found.id : found.requestId) : undefined;
    const request = entries.find((e) => e.id === requestId && e.type === 'request');
    if (!request) throw new AppError('not_found', 'Entry not found.');
    return { request, response: entries.find((e) => e.type === 'response' && e.requestId === request.id) };
  }

  /**
   * A client cancels a request entry (given its guid or its response's). Queued: cancelled, with an empty response
   * entry and a full refund, now. Running: its worker is told to stop at the next denoising step; it then writes a
   * response entry with the images already finished, charged at the per-image price, and refunds the rest. 404 for
   * an entry the user does not have in this thread; 409 for one that already finished.
   */
  async cancel(userId: string, threadId: string, entryId: string): Promise<CancelResult> {
    const { request } = await this.findRequest(userId, threadId, entryId);
    const now = this.#clock().toISOString();
    const outcome = await this.deps.store.transaction(async (tx): Promise<{ state: 'cancelled'; response: Entry } | { state: 'stopping'; jobId: string }> => {
      await tx.threads.lock(threadId); // thread → job → user, the lock order of every writer
      const current = await tx.entries.findRequest(userId, request.id);
      if (!current) throw new AppError('not_found', 'Entry not found.');
      if (current.status !== 'queued' && current.status !== 'running') throw new AppError('conflict', `The request has already finished (${current.status}).`);
      if (await tx.jobs.cancelPending(userId, request.id, now)) {
        const response = await this.#respond(tx, { entryId: request.id, threadId, userId }, { content: [], error: CANCELLED_MESSAGE, credits: 0, files: [], status: 'cancelled', now });
        await this.deps.credits.refundHeld(tx, { userId, entryId: request.id, reason: 'Refunded: the request was cancelled before it started.' });
        await this.#emit(tx, 'entry.cancelled', { userId, threadId, entryId: request.id });
        return { state: 'cancelled', response };
      }
      const jobId = await tx.jobs.requestCancel(userId, request.id, now);
      if (!jobId) throw new AppError('conflict', 'The request has already finished.');
      return { state: 'stopping', jobId };
    });
    if (outcome.state === 'cancelled') {
      await this.#publish({ type: 'cancelled', userId, threadId, entryId: request.id, data: { response: outcome.response } });
    } else {
      this.deps.cancels.announce(outcome.jobId);
    }
    const after = await this.findRequest(userId, threadId, request.id);
    return { entry: after.request, state: outcome.state };
  }

  /** cancel() by the request's guid alone (surfaces without threads, e.g. A1111's /sdapi/v1/interrupt). */
  async cancelEntry(userId: string, entryId: string): Promise<CancelResult> {
    const row = isUuid(entryId) ? await this.deps.store.repos.entries.findRequest(userId, entryId) : undefined;
    if (!row) throw new AppError('not_found', 'Entry not found.');
    return this.cancel(userId, row.thread_id, row.id);
  }

  /**
   * A request entry by its guid alone, with its live state as the store has it: `status`, `progress` (step i of n)
   * and `etaSeconds` while running, `queuePosition` while queued (e.g. for A1111's /sdapi/v1/progress). 404 for an
   * entry the user does not have.
   */
  async requestStatus(userId: string, entryId: string): Promise<Entry> {
    const row = isUuid(entryId) ? await this.deps.store.repos.entries.findRequest(userId, entryId) : undefined;
    if (!row) throw new AppError('not_found', 'Entry not found.');
    const entry = toEntry(row);
    const position = (await this.queuePositions([entry])).get(entry.id);
    return position === undefined ? entry : { ...entry, queuePosition: position };
  }

  /**
   * Resolves with the request and its response entry once the response is written, or undefined after `timeoutMs` (or when
   * `signal` aborts). Listens to the thread's live events and reads the entries once the subscription is ready, so a
   * response written in between is not missed.
   */
  async waitForResponse(userId: string, threadId: string, requestId: string, timeoutMs: number, signal?: AbortSignal): Promise<{ request: Entry; response: Entry } | undefined> {
    let wake: () => void = () => undefined;
    const woken = new Promise<void>((resolve) => (wake = resolve));
    const unsubscribe = this.deps.events.subscribe(threadId, (event) => {
      if (event.entryId === requestId && (event.type === 'completed' || event.type === 'failed' || event.type === 'cancelled')) wake();
    });
    const timer = setTimeout(wake, timeoutMs);
    signal?.addEventListener('abort', wake, { once: true });
    try {
      await this.deps.events.ready();
      const read = async () => {
        const found = await this.findRequest(userId, threadId, requestId);
        return found.response && { request: found.request, response: found.response };
      };
      const early = await read();
      if (early) return early;
      await woken;
      return await read();
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', wake);
      unsubscribe();
    }
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
    const started = await this.deps.store.transaction(async (tx) => {
      await tx.threads.lock(threadId); // thread first, the lock order of every writer
      const before = await tx.entries.findRequest(userId, entryId);
      const marked = await tx.entries.markRunning(userId, entryId, this.#clock().toISOString());
      if (!marked) return false;
      await tx.threads.entriesChanged(userId, threadId);
      // A job taken over after a worker died starts again, but its entry started only once.
      if (before?.status === 'queued') await this.#emit(tx, 'entry.started', { userId, threadId, entryId });
      return true;
    });
    if (started) await this.#publish({ type: 'started', userId, threadId, entryId, data: {} });
    return started;
  }

  /**
   * Writes progress to the request entry at most every `progressIntervalMs`, one write at a time. Steps are
   * reported on the request's scale (some samplers make one model call more than the steps asked).
   */
  progressReporter(job: GenerateJob): ProgressReporter {
    const { userId, entryId, threadId, request, engine } = job.payload;
    const interval = this.deps.progressIntervalMs ?? 250;
    let last = 0;
    /** The write in flight (one at a time), and the latest progress due while it ran. */
    let writing: Promise<void> | undefined;
    let latest: GenerationProgress | undefined;
    // Step times for the ETA come from the engine's own callbacks (wall time between two reported steps).
    let lastStepAt = performance.now();
    let lastStep = 0;
    const isFinal = (p: GenerationProgress) => p.step === p.steps && p.image === p.images - 1;
    const write = (p: GenerationProgress): Promise<void> => {
      last = this.#clock().getTime();
      const done = p.image * p.steps + p.step;
      // Image-to-image and the hires fix run other than `steps` steps: their progress counts the steps they run.
      const total = request.init_image === undefined && request.hires === undefined ? request.steps : p.steps;
      const step = p.steps === total ? p.step : Math.min(total, Math.round((p.step / p.steps) * total));
      const etaSeconds = this.#stepTimes.eta(engine, p.images * p.steps - done);
      const progress: Progress = { step, steps: total, image: p.image, images: p.images };
      return this.deps.store.repos.entries
        .setProgress(userId, entryId, JSON.stringify({ ...progress, eta_seconds: etaSeconds }))
        .then(() => this.deps.store.repos.threads.entriesChanged(userId, threadId))
        .then(() => this.#publish({ type: 'progress', userId, threadId, entryId, data: { ...progress, etaSeconds } }))
        .catch(() => undefined);
    };
    const flush = (): void => {
      if (writing || !latest) return;
      const p = latest;
      latest = undefined;
      writing = write(p).finally(() => {
        writing = undefined;
        // The final step is never dropped; an intermediate one only if its interval has passed meanwhile.
        if (latest && (isFinal(latest) || this.#clock().getTime() - last >= interval)) flush();
        else latest = undefined;
      });
    };
    const report = (p: GenerationProgress): void => {
      const at = performance.now();
      const done = p.image * p.steps + p.step;
      this.#stepTimes.record(engine, done - lastStep, at - lastStepAt);
      lastStep = done;
      lastStepAt = at;
      if (!isFinal(p) && this.#clock().getTime() - last < interval) return;
      latest = p;
      flush();
    };
    return Object.assign(report, {
      async settled(): Promise<void> {
        while (writing) await writing;
      },
    });
  }

  /**
   * Live previews of a job: the engine's request for them (at most one per `previewIntervalMs`), each encoded as a
   * small JPEG and published; undefined when the request turned previews off (`preview: false`).
   */
  previewReporter(job: GenerateJob): { intervalMs: number; onPreview(preview: PreviewImage): void } | undefined {
    const { userId, entryId, threadId, request } = job.payload;
    if (request.preview === false) return undefined;
    let encoding = false;
    return {
      intervalMs: this.deps.previewIntervalMs ?? 500,
      onPreview: (preview) => {
        if (encoding) return; // the previous one is still being encoded: skip rather than queue
        encoding = true;
        const step = preview.steps === request.steps ? preview.step : Math.min(request.steps, Math.round((preview.step / preview.steps) * request.steps));
        previewDataUrl(preview)
          .then((dataUrl) => this.#publish({ type: 'preview', userId, threadId, entryId, data: { image: preview.image, step, dataUrl } }))
          .catch(() => undefined)
          .finally(() => {
            encoding = false;
          });
      },
    };
  }

  /** running → done: the response entry with the images, and the charge, exactly once (guarded by the job lease). */
  async complete(job: GenerateJob, produced: { items: ImageItem[]; files: string[] }): Promise<'done' | 'lost'> {
    const { userId, entryId, cost, threadId } = job.payload;
    let response: Entry | undefined;
    const finished = await this.#finish(job, { threadId, userId, status: 'done' }, async (tx, now) => {
      response = await this.#respond(tx, job.payload, { content: produced.items, error: null, credits: cost, files: produced.files, status: 'done', now });
      await this.#recordImages(tx, job, response.id, produced.items, now);
      await this.deps.credits.charge(tx, { userId, cost, entryId });
      await this.#emit(tx, 'entry.completed', { userId, threadId, entryId });
    });
    if (finished && response) await this.#publish({ type: 'completed', userId, threadId, entryId, data: { response } });
    return finished ? 'done' : 'lost';
  }

  /**
   * running → cancelled by the client: a response entry with the images finished before the stop, charged at the
   * per-image price (the request's cost ÷ its images), and a refund of the rest, exactly once.
   */
  async completeCancelled(job: GenerateJob, produced: { items: ImageItem[]; files: string[] }): Promise<'cancelled' | 'lost'> {
    const { userId, entryId, cost, threadId, request } = job.payload;
    const charged = Math.round((cost / request.images) * produced.items.length);
    let response: Entry | undefined;
    const finished = await this.#finish(job, { threadId, userId, status: 'cancelled', error: CANCELLED_MESSAGE }, async (tx, now) => {
      response = await this.#respond(tx, job.payload, { content: produced.items, error: CANCELLED_MESSAGE, credits: charged, files: produced.files, status: 'cancelled', now });
      await this.#recordImages(tx, job, response.id, produced.items, now);
      if (charged > 0) await this.deps.credits.charge(tx, { userId, cost: charged, entryId });
      await this.deps.credits.refundHeld(tx, { userId, entryId, reason: 'Refunded: the request was cancelled; images not delivered are not charged.' });
      await this.#emit(tx, 'entry.cancelled', { userId, threadId, entryId });
    });
    if (finished && response) await this.#publish({ type: 'cancelled', userId, threadId, entryId, data: { response } });
    return finished ? 'cancelled' : 'lost';
  }

  /** The gallery rows of delivered images, in the response's transaction. */
  async #recordImages(tx: Repositories, job: GenerateJob, responseId: string, items: ImageItem[], now: string): Promise<void> {
    const { userId, entryId } = job.payload;
    const prompt = job.payload.request.prompts
        .filter((p) => p.weight > 0)
        .map((p) => p.text)
        .join(', ');
      await tx.images.insertMany(
        items.map((item, position) => ({
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
  }

  /** running → failed: an error response entry and the refund, exactly once. */
  async fail(job: GenerateJob, message: string): Promise<'failed' | 'lost'> {
    const { userId, entryId, threadId } = job.payload;
    let response: Entry | undefined;
    const finished = await this.#finish(job, { threadId, userId, status: 'failed', error: message }, async (tx, now) => {
      response = await this.#respond(tx, job.payload, { content: [], error: message, credits: 0, files: [], status: 'failed', now });
      await this.deps.credits.refundHeld(tx, { userId, entryId, reason: 'Refunded: image generation failed.' });
      await this.#emit(tx, 'entry.failed', { userId, threadId: job.payload.threadId, entryId });
    });
    if (finished) await this.#publish({ type: 'failed', userId, threadId, entryId, data: { error: message, response: response ?? null } });
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
    let response: Entry | undefined;
    const finished = await this.#finish(job, { threadId: request?.thread_id, userId: job.userId ?? '', status: 'failed', error: reason }, async (tx, now) => {
      if (!request || !job.userId) return;
      const target = { entryId: request.id, threadId: request.thread_id, userId: job.userId };
      response = await this.#respond(tx, target, { content: [], error: message, credits: 0, files: [], status: 'failed', now });
      await this.deps.credits.refundHeld(tx, { userId: job.userId, entryId: request.id, reason: 'Refunded: image generation failed.' });
      await this.#emit(tx, 'entry.failed', target);
    });
    if (finished && request && response) {
      await this.#publish({ type: 'failed', userId: request.user_id, threadId: request.thread_id, entryId: request.id, data: { error: message, response } });
    }
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
      let response: Entry | undefined;
      const done = await this.deps.store.transaction(async (tx) => {
        if (request) await tx.threads.lock(request.thread_id); // thread → job → user, the lock order of every writer
        if (!(await this.deps.queue.finishPending(tx, job.id, { status: 'failed', error: message }))) return false;
        if (!request) return true;
        const target = { entryId: request.id, threadId: request.thread_id, userId: request.user_id };
        response = await this.#respond(tx, target, { content: [], error: message, credits: 0, files: [], status: 'failed', now: this.#clock().toISOString() });
        await this.deps.credits.refundHeld(tx, { userId: request.user_id, entryId: request.id, reason: 'Refunded: no worker served the engine.' });
        await this.#emit(tx, 'entry.failed', target);
        return true;
      });
      if (done) expired += 1;
      if (done && request && response) {
        await this.#publish({ type: 'failed', userId: request.user_id, threadId: request.thread_id, entryId: request.id, data: { error: message, response } });
      }
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
      await this.#emit(tx, 'entry.cancelled', { userId, threadId, entryId });
    }
    await this.deps.webhooks?.forget(
      tx,
      userId,
      entries.map((e) => e.id),
    );
    await tx.images.deleteForThread(userId, threadId);
    await tx.events.deleteForThread(threadId);
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
      await this.#emit(tx, 'entry.cancelled', { userId, threadId, entryId: id });
    }
    await this.deps.webhooks?.forget(tx, userId, [requestId]);
    await tx.images.deleteForRequest(userId, requestId);
    await tx.events.deleteForEntry(threadId, requestId);
    await tx.entries.deleteRequest(userId, requestId);
    await tx.threads.entriesChanged(userId, threadId);
    return entries.flatMap((e) => parseFiles(e.files));
  }

  /**
   * A lifecycle event of a request entry, inside the transaction of its state change: the webhook outbox queues a
   * delivery when the entry asked for one. The one place entry events leave this service.
   */
  async #emit(tx: Repositories, type: WebhookEventType, target: { userId: string; threadId: string; entryId: string }): Promise<void> {
    await this.deps.webhooks?.enqueueForEntry(tx, { type, ...target });
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
    response: { content: ImageItem[]; error: string | null; credits: number; files: string[]; status: 'done' | 'failed' | 'cancelled'; now: string },
  ): Promise<Entry> {
    const id = randomUUID();
    const row = await tx.entries.insert({
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
    return toEntry(row);
  }

  /** Publishes a committed state change; an event that cannot be stored is logged by EntryEvents, never thrown. */
  async #publish(event: EntryEventInput): Promise<void> {
    await this.deps.events.publish(event);
  }
}

const CANCELLED_MESSAGE = 'The request was cancelled.';

/** The price of a checked request (services/credits/pricing.ts), with the denoising steps it actually runs. */
function costOf(checked: CheckedRequest): number {
  const size = parseResolution(checked.request.resolution) ?? { width: 0, height: 0 };
  const images = checked.request.images;
  const base = requestCost({ images, steps: checked.runSteps, width: size.width, height: size.height });
  // The hires fix is a second request: its refinement steps at the output size.
  return checked.hires ? base + requestCost({ images, steps: checked.hires.runSteps, width: checked.hires.width, height: checked.hires.height }) : base;
}

/** The body's decoded images. */
interface DecodedInputs {
  init?: DecodedInput;
  mask?: DecodedInput;
}

/** An input image's copy in storage. */
interface StoredInput {
  guid: string;
  key: string;
  url: string;
  width: number;
  height: number;
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
