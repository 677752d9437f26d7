/**
 * The periodic sweep: deletes what no longer serves anyone. Tokens revoked more than `revokedTokenRetentionMs` ago
 * (30 days: long enough to see in the UI what was revoked and when), expired browser sessions, and throttle
 * counters whose window has ended, idempotency keys past their 24 h, webhook deliveries finished 30 days ago, and entry
 * events past their replay window. Every step is an idempotent DELETE, so several API processes may sweep at once.
 */
import { systemClock, type Clock } from '../../domain/clock.ts';
import type { DataStore } from '../../store/database.ts';
import { EVENT_RETENTION_MS } from '../events/entry-events.ts';
import { FixedWindowCounters, type CounterPolicy } from '../limits/fixed-window-counters.ts';

export const REVOKED_TOKEN_RETENTION_MS = 30 * 24 * 3600_000;
/** Finished webhook deliveries (and their attempts) are listed this long, then deleted. */
export const WEBHOOK_DELIVERY_RETENTION_MS = 30 * 24 * 3600_000;

export interface SweepResult {
  revokedTokens: number;
  expiredSessions: number;
  throttleCounters: number;
  /** Idempotency keys past their 24 h. */
  idempotencyKeys: number;
  /** Webhook deliveries finished more than 30 days ago. */
  webhookDeliveries: number;
  /** Entry events past their replay window (services/events/entry-events.ts). */
  entryEvents: number;
}

export interface HousekeepingDeps {
  store: DataStore;
  /** The counter policies in use (their windows say when a counter is stale). */
  counterPolicies: readonly Pick<CounterPolicy, 'scope' | 'windowMs'>[];
  clock?: Clock;
  revokedTokenRetentionMs?: number;
}

export class Housekeeping {
  readonly #clock: Clock;
  readonly #counters: FixedWindowCounters;

  constructor(private readonly deps: HousekeepingDeps) {
    this.#clock = deps.clock ?? systemClock;
    this.#counters = new FixedWindowCounters(deps.store, this.#clock);
  }

  async sweep(): Promise<SweepResult> {
    const now = this.#clock().getTime();
    const { repos } = this.deps.store;
    const retention = this.deps.revokedTokenRetentionMs ?? REVOKED_TOKEN_RETENTION_MS;
    const revokedTokens = await repos.tokens.deleteRevokedBefore(new Date(now - retention).toISOString());
    const expiredSessions = await repos.sessions.deleteExpired(new Date(now).toISOString());
    let throttleCounters = 0;
    for (const policy of this.deps.counterPolicies) throttleCounters += await this.#counters.purge(policy);
    const idempotencyKeys = await repos.idempotencyKeys.deleteExpired(new Date(now).toISOString());
    const webhookDeliveries = await repos.webhookDeliveries.deleteFinishedBefore(new Date(now - WEBHOOK_DELIVERY_RETENTION_MS).toISOString());
    const entryEvents = await repos.events.deleteBefore(new Date(now - EVENT_RETENTION_MS).toISOString());
    return { revokedTokens, expiredSessions, throttleCounters, idempotencyKeys, webhookDeliveries, entryEvents };
  }
}
