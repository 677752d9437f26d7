/**
 * Threads are per-user conversations with one AI version. Every query is scoped by user id, so another account's
 * thread is indistinguishable from a missing one (404).
 */
import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../../domain/clock.ts';
import { AppError } from '../../domain/errors.ts';
import { isUuid } from '../../domain/ids.ts';
import { pageWindow, type Page, type Paged } from '../../domain/pagination.ts';
import type { DataStore } from '../../store/database.ts';
import type { ThreadRow } from '../../store/repositories/threads.repo.ts';
import type { EntryService } from '../entries/entry-service.ts';
import { fingerprint, type IdempotencyClaim, type IdempotencyService } from '../idempotency/idempotency.ts';
import type { FileJanitor } from '../files/file-janitor.ts';
import { AI_VERSIONS, findAiVersion, type AiVersion } from './ai-versions.ts';
import { THREAD_TITLE_MAX } from './thread-title.ts';

/** Per account (issue #17): past it, opening one more is a 422 naming the limit. */
export const THREADS_PER_USER_MAX = 1000;

export interface Thread {
  id: string;
  aiCode: string;
  aiVersionCode: string;
  title: string;
  createdAt: string;
  updatedAt: string;
}

export interface ThreadServiceDeps {
  store: DataStore;
  entries: EntryService;
  /** Deletes the files of deleted entries, and retries later when the storage is away. */
  janitor: FileJanitor;
  clock?: Clock;
  /** Idempotency-Key support for open(). */
  idempotency?: IdempotencyService;
}

export class ThreadService {
  readonly #clock: Clock;

  constructor(private readonly deps: ThreadServiceDeps) {
    this.#clock = deps.clock ?? systemClock;
  }

  async create(userId: string, aiVersionCode: string): Promise<Thread> {
    return (await this.open(userId, aiVersionCode)).thread;
  }

  /**
   * create() with an Idempotency-Key: the key's first request opens the thread, a repeat of it gets the same thread
   * back (`replayed`), a different request with the key a 422 (see services/idempotency).
   */
  async open(userId: string, aiVersionCode: string, options: { idempotencyKey?: string } = {}): Promise<{ thread: Thread; replayed: boolean }> {
    const version = findAiVersion(aiVersionCode);
    if (!version) {
      throw AppError.validation({ ai_version_code: [`The selected ai_version_code is invalid. Valid: ${AI_VERSIONS.map((v) => v.aiVersionCode).join(', ')}.`] });
    }
    const { idempotency } = this.deps;
    if (options.idempotencyKey === undefined || !idempotency) return { thread: await this.#insert(userId, version), replayed: false };
    const outcome = await idempotency.run(
      { userId, key: options.idempotencyKey, fingerprint: fingerprint('POST /threads', { ai_version_code: version.aiVersionCode }) },
      async (claim) => ({ status: 201, value: await this.#insert(userId, version, claim) }),
      (json) => json as Thread, // the stored result is the Thread this service wrote
    );
    return { thread: outcome.result.value, replayed: outcome.replayed };
  }

  async #insert(userId: string, version: NonNullable<ReturnType<typeof findAiVersion>>, claim?: IdempotencyClaim): Promise<Thread> {
    const now = this.#clock().toISOString();
    const row: ThreadRow = { id: randomUUID(), user_id: userId, ai_code: version.aiCode, ai_version_code: version.aiVersionCode, title: version.title, created_at: now, updated_at: now, version: 0 };
    // Count and insert under the user's row lock, so parallel creates cannot pass the limit together.
    await this.deps.store.transaction(async (tx) => {
      await tx.users.lock(userId);
      if ((await tx.threads.count(userId)) >= THREADS_PER_USER_MAX) {
        throw AppError.validation({ threads: [`An account can hold at most ${THREADS_PER_USER_MAX} threads: delete old threads before opening another.`] });
      }
      await tx.threads.insert(row);
      if (claim) await this.deps.idempotency?.complete(tx, claim, { status: 201, value: toThread(row) });
    });
    return toThread(row);
  }

  /**
   * The account's thread for a compatibility protocol (`protocol`: openai, a1111, or one of their image kinds such as
   * a1111:img2img), of AI version `version`, opened with `title` on first use and again after the account deleted it. Counts against the account's thread limit like any other thread.
   */
  async forProtocol(userId: string, protocol: string, title: string, version: AiVersion = AI_VERSIONS[0]): Promise<string> {
    const existing = await this.deps.store.repos.protocols.threadFor(userId, protocol);
    if (existing) return existing;
    return this.deps.store.transaction(async (tx) => {
      await tx.users.lock(userId);
      const opened = await tx.protocols.threadFor(userId, protocol);
      if (opened) return opened;
      if ((await tx.threads.count(userId)) >= THREADS_PER_USER_MAX) {
        throw AppError.validation({ threads: [`An account can hold at most ${THREADS_PER_USER_MAX} threads: delete old threads before sending requests through the ${title}.`] });
      }
      const now = this.#clock().toISOString();
      const row: ThreadRow = { id: randomUUID(), user_id: userId, ai_code: version.aiCode, ai_version_code: version.aiVersionCode, title, created_at: now, updated_at: now, version: 0 };
      await tx.threads.insert(row);
      await tx.protocols.setThread(userId, protocol, row.id);
      return row.id;
    });
  }

  /** Newest first. */
  async list(userId: string, page: Page): Promise<Paged<Thread>> {
    const { page: current, perPage, offset } = pageWindow(page, 100);
    const [rows, total] = await Promise.all([this.deps.store.repos.threads.list(userId, { limit: perPage, offset }), this.deps.store.repos.threads.count(userId)]);
    return { items: rows.map(toThread), total, page: current, perPage };
  }

  async get(userId: string, id: string): Promise<Thread> {
    const row = isUuid(id) ? await this.deps.store.repos.threads.find(userId, id) : undefined;
    if (!row) throw new AppError('not_found', 'Thread not found.');
    return toThread(row);
  }

  /** Renames the thread (1–100 characters after trimming, no control characters); returns it. */
  async rename(userId: string, id: string, title: string): Promise<Thread> {
    await this.get(userId, id);
    const clean = title.trim();
    if (clean === '') throw AppError.validation({ title: ['The title field is required.'] });
    if ([...clean].length > THREAD_TITLE_MAX) throw AppError.validation({ title: [`The title may not be greater than ${THREAD_TITLE_MAX} characters.`] });
    if (/[\u0000-\u001f\u007f]/.test(clean)) throw AppError.validation({ title: ['The title contains characters that are not allowed (control characters).'] });
    await this.deps.store.repos.threads.setTitle(userId, id, { title: clean, updatedAt: this.#clock().toISOString() });
    return this.get(userId, id);
  }

  /**
   * Deletes one request entry (or the request of a response entry) with its response and image files; a request
   * still queued or running is cancelled and refunded. 404 for a thread or entry the user does not have.
   */
  async deleteEntry(userId: string, threadId: string, entryId: string): Promise<void> {
    await this.get(userId, threadId);
    const files = await this.deps.store.transaction(async (tx) => {
      await tx.threads.lock(threadId);
      const owned = await this.deps.entries.removeRequest(tx, userId, threadId, entryId);
      await this.deps.janitor.record(tx, owned);
      return owned;
    });
    await this.#deleteFiles(files, { threadId, entryId });
  }

  /** Deletes the thread, its entries and their files; unfinished requests are cancelled and their credits refunded. */
  async delete(userId: string, id: string): Promise<void> {
    await this.get(userId, id);
    const files = await this.deps.store.transaction(async (tx) => {
      // PostgreSQL: no request can be added to (or answered in) the thread while it is being deleted.
      await tx.threads.lock(id);
      const owned = await this.deps.entries.removeForThread(tx, userId, id);
      await tx.threads.delete(userId, id);
      await this.deps.janitor.record(tx, owned);
      return owned;
    });
    await this.#deleteFiles(files, { threadId: id });
  }

  /** The rows are gone (committed): a storage failure cannot undo the deletion the tenant asked for, the janitor retries it. */
  async #deleteFiles(files: string[], context: { threadId: string; entryId?: string }): Promise<void> {
    await this.deps.janitor.delete(files, context);
  }
}

function toThread(row: ThreadRow): Thread {
  return { id: row.id, aiCode: row.ai_code, aiVersionCode: row.ai_version_code, title: row.title, createdAt: row.created_at, updatedAt: row.updated_at };
}
