/**
 * ApplicationService with a short-lived bearer-token cache in front of authenticate(), for the hot polling path (a
 * client polls GET …/entries every second). Revoking a token or deleting its application through this service
 * drops it from the cache at once; a change made by another process (another API node, direct SQL) is seen after
 * at most `ttlMs`.
 */
import { systemClock, type Clock } from '../../domain/clock.ts';
import type { DataStore } from '../../store/database.ts';
import { ApplicationService, type TokenPrincipal } from './applications.ts';

export interface TokenCacheOptions {
  ttlMs?: number;
  maxEntries?: number;
  clock?: Clock;
}

export class CachedApplicationService extends ApplicationService {
  readonly #cache = new Map<string, { principal: TokenPrincipal; expires: number }>();
  readonly #ttlMs: number;
  readonly #maxEntries: number;

  constructor(store: DataStore, options: TokenCacheOptions = {}) {
    super(store, options.clock ?? systemClock);
    this.#ttlMs = options.ttlMs ?? 2000;
    this.#maxEntries = options.maxEntries ?? 10_000;
  }

  override async authenticate(token: string): Promise<TokenPrincipal | undefined> {
    const now = this.clock().getTime();
    const hit = this.#cache.get(token);
    if (hit && hit.expires > now) return hit.principal;
    const principal = await super.authenticate(token);
    if (hit) this.#cache.delete(token);
    if (principal && this.#ttlMs > 0) {
      const oldest = this.#cache.keys().next();
      if (this.#cache.size >= this.#maxEntries && !oldest.done) this.#cache.delete(oldest.value);
      this.#cache.set(token, { principal, expires: now + this.#ttlMs });
    }
    return principal;
  }

  override async revokeToken(userId: string, applicationId: string, tokenId: string): Promise<void> {
    this.#forget((p) => p.tokenId === tokenId);
    try {
      await super.revokeToken(userId, applicationId, tokenId);
    } finally {
      this.#forget((p) => p.tokenId === tokenId);
    }
  }

  override async delete(userId: string, id: string): Promise<void> {
    this.#forget((p) => p.applicationId === id);
    try {
      await super.delete(userId, id);
    } finally {
      this.#forget((p) => p.applicationId === id);
    }
  }

  /** Drops every cached token (e.g. after a user was deleted). */
  clearTokenCache(): void {
    this.#cache.clear();
  }

  #forget(match: (p: TokenPrincipal) => boolean): void {
    for (const [token, entry] of this.#cache) if (match(entry.principal)) this.#cache.delete(token);
  }
}
