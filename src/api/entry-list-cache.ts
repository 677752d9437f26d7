/**
 * The polling path (a client asks for its thread's entries every second): the `{"data": [...]}` JSON of a thread's
 * list is kept per (user, thread) with the entries version it was read at, and served again while one primary-key
 * read says the version is unchanged. Any change to the entries (here or in a worker process) grows the version in
 * the database, so a cached list is never served stale. Bounded: least recently used lists go first.
 */
import type { Entry } from '../domain/entry.ts';
import { AppError } from '../domain/errors.ts';
import type { EntryService } from '../services/entries/entry-service.ts';
import { entryView } from './views.ts';

export interface CachedEntryList {
  entries: Entry[];
  json: string;
  /** Some request still waits for its response (the route then answers Retry-After: 1). */
  waiting: boolean;
}

export class EntryListCache {
  readonly #lists = new Map<string, CachedEntryList & { version: number }>();

  constructor(
    private readonly entries: EntryService,
    private readonly maxLists = 2000,
  ) {}

  /** The list as JSON; 404 (from the service) for a thread the user does not have. */
  async get(userId: string, threadId: string): Promise<CachedEntryList> {
    const key = `${userId}:${threadId}`;
    const version = await this.entries.version(userId, threadId);
    const hit = this.#lists.get(key);
    if (hit && hit.version === version) {
      this.#lists.delete(key);
      this.#lists.set(key, hit);
      return hit;
    }
    const list = await this.entries.listVersioned(userId, threadId);
    const fresh = { version: list.version, entries: list.entries, json: JSON.stringify({ data: list.entries.map(entryView) }), waiting: list.entries.some((e) => e.waitingResponse) };
    this.#lists.delete(key);
    this.#lists.set(key, fresh);
    const oldest = this.#lists.keys().next();
    if (this.#lists.size > this.maxLists && !oldest.done) this.#lists.delete(oldest.value);
    return fresh;
  }

  /**
   * The list as the route sends it: only the entries after `since` (an entry guid of the thread) when given, and the
   * queued requests' queue positions read fresh (other accounts' jobs move them without touching this thread).
   */
  async render(userId: string, threadId: string, since?: string): Promise<CachedEntryList> {
    const list = await this.get(userId, threadId);
    let entries = list.entries;
    if (since !== undefined) {
      const at = entries.findIndex((e) => e.id === since);
      if (at < 0) throw AppError.validation({ since: ['The since entry is not in this thread.'] });
      entries = entries.slice(at + 1);
    }
    const positions = await this.entries.queuePositions(entries);
    if (positions.size === 0 && since === undefined) return list;
    const shown = entries.map((e) => (positions.has(e.id) ? { ...e, queuePosition: positions.get(e.id) } : e));
    return { entries: shown, json: JSON.stringify({ data: shown.map(entryView) }), waiting: list.waiting };
  }
}
