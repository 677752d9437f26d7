/**
 * What the compatibility surfaces (the OpenAI Images API, AUTOMATIC1111's API) share, on top of the thread/entry
 * services: each protocol writes its requests as ordinary request entries (same check, price, reservation, queue,
 * engines, storage and ledger) into one thread per account and protocol, waits for the response synchronously, and
 * reads the images back for protocols that answer with bytes. The surfaces only map their fields at the edge.
 */
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { systemClock, type Clock } from '../../domain/clock.ts';
import type { Entry, ImageItem, Progress } from '../../domain/entry.ts';
import { AppError } from '../../domain/errors.ts';
import type { GenerationRequest } from '../../domain/generation-request.ts';
import type { FileStorage } from '../../storage/file-storage.ts';
import type { DataStore } from '../../store/database.ts';
import type { EntryRow } from '../../store/repositories/entries.repo.ts';
import { toEntry, type EntryService } from '../entries/entry-service.ts';
import type { RequestSubmission } from '../entries/request-check.ts';
import type { EntryEvents } from '../events/entry-events.ts';
import { findAiVersion } from '../threads/ai-versions.ts';
import type { ThreadService } from '../threads/thread-service.ts';

export const PROTOCOLS = { openai: 'OpenAI API', a1111: 'A1111 API' } as const;
/** A compatibility protocol; its value in PROTOCOLS is the title of the account's thread for it. */
export type Protocol = keyof typeof PROTOCOLS;

/**
 * What a protocol request starts from. Each kind has its own thread per account and protocol (a thread's AI version
 * decides which image fields its requests take): text in `<protocol>`, the others in `<protocol>:img2img` and
 * `<protocol>:inpaint`.
 */
export type ProtocolKind = 'text' | 'image' | 'inpaint';
const KINDS: Readonly<Record<ProtocolKind, { suffix: string; aiVersionCode: string; title: string }>> = {
  text: { suffix: '', aiVersionCode: 'stablediffusion_text2img', title: '' },
  image: { suffix: ':img2img', aiVersionCode: 'stablediffusion_img2img', title: ' (image to image)' },
  inpaint: { suffix: ':inpaint', aiVersionCode: 'stablediffusion_inpaint', title: ' (inpainting)' },
};

/** The protocol_threads keys of a protocol: one per kind. */
export function protocolThreadKeys(protocol: Protocol): string[] {
  return Object.values(KINDS).map((k) => `${protocol}${k.suffix}`);
}

/** A repeat of a request within this long after the first one ended gets the first one's result. */
export const REPEAT_WINDOW_MS = 10 * 60_000;
/** How long request fingerprints are kept (far beyond any job's life plus the repeat window; housekeeping deletes older ones). */
export const FINGERPRINT_RETENTION_MS = 24 * 3600_000;

/** A delivered image with the storage key of its PNG. */
export interface DeliveredImage {
  item: ImageItem;
  key: string;
}

export type ProtocolOutcome =
  | { status: 'done'; entryId: string; request: GenerationRequest; images: DeliveredImage[]; credits: number; createdAt: string }
  /** Cancelled: `images` holds those finished before the cancel (charged), if any. */
  | { status: 'cancelled'; entryId: string; request: GenerationRequest; images: DeliveredImage[]; error: string; createdAt: string }
  | { status: 'failed'; entryId: string; request: GenerationRequest; error: string; createdAt: string };

export interface ProtocolServiceDeps {
  store: DataStore;
  entries: EntryService;
  threads: ThreadService;
  storage: FileStorage;
  /** The entries' lifecycle events: a waiting call wakes on them and follows the previews. */
  events: EntryEvents;
  clock?: Clock;
  /** First and longest pause between two reads of a waited-for request (default 50 ms, growing to 500 ms). */
  pollMs?: { first: number; max: number };
}

export interface WaitOptions {
  /** Gives up with a 504 `timeout` error after this long (the job goes on). */
  timeoutMs: number;
  /** Stops waiting (e.g. the client went away); the job goes on. */
  signal?: AbortSignal;
  /** Called with the request entry's progress whenever it changed. */
  onProgress?: (progress: Progress) => void;
  /** Called with each live preview of the request (a small JPEG of the image being denoised). */
  onPreview?: (preview: LivePreview) => void;
}

/** A live preview: image `image` at `step` of `steps`, as JPEG bytes (at most 256 px). */
export interface LivePreview {
  image: number;
  step: number;
  steps: number;
  jpeg: Buffer;
}

export class ProtocolService {
  readonly #clock: Clock;

  constructor(private readonly deps: ProtocolServiceDeps) {
    this.#clock = deps.clock ?? systemClock;
  }

  /**
   * Checks, prices, reserves and queues the request in the account's thread for the protocol (the entry service's
   * one 422 for bad fields, 402 for too few credits). With `repeatKey` (the caller's token and the body as sent),
   * a repeat of a request that is still running or ended within REPEAT_WINDOW_MS returns the first one's entry
   * instead of a second generation and charge; a cancelled one is not repeated.
   */
  async submit(
    userId: string,
    protocol: Protocol,
    submission: RequestSubmission,
    repeatKey?: { tokenId: string; body: unknown },
    kind: ProtocolKind = 'text',
  ): Promise<{ entryId: string; repeated: boolean }> {
    const { repos } = this.deps.store;
    const fingerprint = repeatKey && fingerprintOf(protocol, repeatKey.body);
    if (repeatKey && fingerprint) {
      const seen = await repos.protocols.findRequest(repeatKey.tokenId, fingerprint);
      const first = seen && seen.user_id === userId ? await repos.entries.findRequest(userId, seen.entry_id) : undefined;
      if (first && this.#repeatable(first)) return { entryId: first.id, repeated: true };
    }
    const k = KINDS[kind];
    const version = findAiVersion(k.aiVersionCode);
    if (!version) throw new Error(`Unknown AI version ${k.aiVersionCode}`);
    const threadId = await this.deps.threads.forProtocol(userId, `${protocol}${k.suffix}`, `${PROTOCOLS[protocol]}${k.title}`, version);
    const entry = await this.deps.entries.createRequest(userId, { ...submission, threadId });
    if (repeatKey && fingerprint) {
      await repos.protocols.recordRequest({ token_id: repeatKey.tokenId, fingerprint, user_id: userId, entry_id: entry.id, created_at: this.#clock().toISOString() });
    }
    return { entryId: entry.id, repeated: false };
  }

  /**
   * Waits until the request entry is final and returns its outcome; 404 when the user has no such request. Wakes on
   * the thread's live events (any process's, through the broadcast), with a slow re-read as the safety net for a lost
   * event; previews go to `onPreview` as they come.
   */
  async waitFor(userId: string, entryId: string, options: WaitOptions): Promise<ProtocolOutcome> {
    const { repos } = this.deps.store;
    const first = await repos.entries.findRequest(userId, entryId);
    if (!first) throw new AppError('not_found', 'The request no longer exists (its entry or thread was deleted).');
    const steps = (JSON.parse(first.content) as GenerationRequest).steps;
    const deadline = Date.now() + options.timeoutMs;
    const poll = this.deps.pollMs ?? { first: 50, max: 2000 };
    let pause = poll.first;
    let wake: () => void = () => undefined;
    const unsubscribe = this.deps.events.subscribe(first.thread_id, (event) => {
      if (event.entryId !== entryId) return;
      if (event.type === 'preview' && options.onPreview) {
        const jpeg = Buffer.from(event.data.dataUrl.slice(event.data.dataUrl.indexOf(',') + 1), 'base64');
        options.onPreview({ image: event.data.image, step: event.data.step, steps, jpeg });
      }
      if (event.type !== 'preview') wake();
    });
    try {
      await this.deps.events.ready();
      let lastProgress: string | null = null;
      let seen: EntryRow = first;
      for (;;) {
        const woken = new Promise<void>((resolve) => (wake = resolve));
        const row = await repos.entries.findRequest(userId, entryId);
        // Deleted while waited for (the entry or its thread): cancelled, as far as the waiting call is concerned.
        if (!row) return { status: 'cancelled', entryId, request: JSON.parse(seen.content) as GenerationRequest, images: [], error: 'The request was cancelled.', createdAt: seen.created_at };
        seen = row;
        if (row.status !== 'queued' && row.status !== 'running') return await this.#outcome(userId, row);
        if (options.onProgress && row.progress && row.progress !== lastProgress) {
          lastProgress = row.progress;
          options.onProgress(JSON.parse(row.progress) as Progress);
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new AppError('timeout', `The images were not ready within ${Math.round(options.timeoutMs / 1000)} s; the request goes on, and repeating it returns its result.`);
        if (options.signal?.aborted) throw new AppError('timeout', 'The client stopped waiting.');
        await Promise.race([woken, pauseFor(Math.min(pause, left), options.signal)]);
        pause = Math.min(poll.max, pause * 2);
      }
    } finally {
      unsubscribe();
    }
  }

  /** What the live events say of a running request: its latest preview (JPEG) and ETA, when there are any. */
  async liveState(userId: string, threadId: string, entryId: string): Promise<{ preview?: Buffer; etaSeconds?: number }> {
    const events = await this.deps.events.replay(userId, threadId, 0);
    const state: { preview?: Buffer; etaSeconds?: number } = {};
    for (const event of events) {
      if (event.entryId !== entryId) continue;
      if (event.type === 'preview') state.preview = Buffer.from(event.data.dataUrl.slice(event.data.dataUrl.indexOf(',') + 1), 'base64');
      if (event.type === 'progress' && event.data.etaSeconds !== null) state.etaSeconds = event.data.etaSeconds;
    }
    return state;
  }

  /** The most recent request the account sent through the protocol (queued, running or final), if any. */
  async latest(userId: string, protocol: Protocol): Promise<Entry | undefined> {
    return (await this.activity(userId, protocol)).latest;
  }

  /** The account's most recent request through the protocol and how many are queued or running, read together. */
  async activity(userId: string, protocol: Protocol): Promise<{ latest: Entry | undefined; unfinished: number }> {
    const found = await this.deps.store.repos.protocols.latestRequest(userId, protocolThreadKeys(protocol));
    return found ? { latest: toEntry(found.latest), unfinished: found.unfinished } : { latest: undefined, unfinished: 0 };
  }

  /**
   * Cancels the account's most recent request through the protocol if it is still queued or running (the entry
   * service's cancel: queued, refunded in full; running, stopped within a step, the finished images charged and kept,
   * the rest refunded); a waiting synchronous call answers it as cancelled. Returns whether there was one.
   */
  async interrupt(userId: string, protocol: Protocol): Promise<boolean> {
    const latest = await this.latest(userId, protocol);
    if (!latest || (latest.status !== 'queued' && latest.status !== 'running')) return false;
    try {
      await this.deps.entries.cancelEntry(userId, latest.id);
    } catch (err) {
      // Finished (409) or deleted (404) in the meantime: nothing left to interrupt.
      if (err instanceof AppError && (err.status === 409 || err.status === 404)) return false;
      throw err;
    }
    return true;
  }

  /** The account's settings on the protocol (AUTOMATIC1111's options), by name. */
  async settings(userId: string, protocol: Protocol): Promise<Record<string, unknown>> {
    const stored = await this.deps.store.repos.protocols.settings(userId, protocol);
    return Object.fromEntries([...stored].map(([name, value]) => [name, JSON.parse(value) as unknown]));
  }

  /** Sets the account's settings on the protocol (the caller has checked them). */
  async updateSettings(userId: string, protocol: Protocol, values: Record<string, unknown>): Promise<void> {
    const encoded = new Map(Object.entries(values).map(([name, value]) => [name, JSON.stringify(value)]));
    await this.deps.store.repos.protocols.setSettings(userId, protocol, encoded, this.#clock().toISOString());
  }

  /** The stored PNG of a delivered image, or the same pixels as JPEG or WebP (`quality` 0–100). */
  async imageBytes(image: DeliveredImage, format: 'png' | 'jpeg' | 'webp' = 'png', quality?: number): Promise<Buffer> {
    const png = await this.deps.storage.read(image.key);
    if (format === 'png') return png;
    const q = quality === undefined ? undefined : Math.max(1, Math.min(100, Math.round(quality)));
    return format === 'jpeg' ? sharp(png).jpeg({ quality: q ?? 90 }).toBuffer() : sharp(png).webp({ quality: q ?? 90 }).toBuffer();
  }

  #repeatable(first: EntryRow): boolean {
    if (first.status === 'queued' || first.status === 'running') return true;
    if (first.status === 'cancelled') return false;
    return this.#clock().getTime() - Date.parse(first.updated_at) <= REPEAT_WINDOW_MS;
  }

  async #outcome(userId: string, row: EntryRow): Promise<ProtocolOutcome> {
    const request = JSON.parse(row.content) as GenerationRequest;
    const base = { entryId: row.id, request, createdAt: row.created_at };
    const response = await this.deps.store.repos.entries.findResponse(userId, row.id);
    const images = response ? deliveredImages(response) : [];
    if (row.status === 'cancelled') return { ...base, status: 'cancelled', images, error: response?.error ?? row.error ?? 'The request was cancelled.' };
    if (!response || row.status === 'failed' || response.status === 'failed') {
      return { ...base, status: 'failed', error: response?.error ?? row.error ?? 'Image generation failed.' };
    }
    return { ...base, status: 'done', credits: Number(response.credits), images };
  }
}

/** A response entry's images, each with the storage key of its PNG (its files: each PNG, then its thumbnail). */
function deliveredImages(response: EntryRow): DeliveredImage[] {
  const items = JSON.parse(response.content) as ImageItem[];
  const keys = (JSON.parse(response.files) as string[]).filter((key) => !key.endsWith('.thumbnail.jpg'));
  return items.map((item, i) => ({ item, key: keys[i] ?? '' }));
}

/** SHA-256 of the protocol and the body with its keys sorted (the same request sent twice gives the same value). */
export function fingerprintOf(protocol: Protocol, body: unknown): string {
  return createHash('sha256').update(protocol).update('\n').update(stableJson(body)).digest('hex');
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function pauseFor(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
