/**
 * Fixed-window counters in the database, for the rare events that must be limited across restarts and processes
 * (login attempts, registrations). Each hit is counted atomically before the guarded work runs, so parallel
 * requests are limited exactly like serial ones. The per-request API rate limit does not use these (it must not
 * write to the database per request): see request-limiter.ts.
 */
import { systemClock, type Clock } from '../../domain/clock.ts';
import type { DataStore } from '../../store/database.ts';

export interface CounterPolicy {
  /** What is counted (a stable name, stored with each counter). */
  scope: string;
  /** Events allowed per window; the next one is refused. */
  limit: number;
  windowMs: number;
}

export interface CounterHit {
  allowed: boolean;
  /** Events in the current window, this one included. */
  count: number;
  windowStart: string;
  /** Seconds until the window ends (at least 1). */
  retryAfterSeconds: number;
}

export class FixedWindowCounters {
  constructor(
    private readonly store: DataStore,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Counts one event for `subject`; `allowed` is false once the window's count passes the limit. */
  async hit(policy: CounterPolicy, subject: string): Promise<CounterHit> {
    const now = this.clock().getTime();
    const state = await this.store.repos.throttleCounters.hit(policy.scope, subject, {
      now: new Date(now).toISOString(),
      staleBefore: new Date(now - policy.windowMs).toISOString(),
    });
    const ends = Date.parse(state.windowStart) + policy.windowMs;
    return { allowed: state.count <= policy.limit, count: state.count, windowStart: state.windowStart, retryAfterSeconds: Math.max(1, Math.ceil((ends - now) / 1000)) };
  }

  /** Takes back an event counted by `hit` (the work it guarded did not count, e.g. a successful login). */
  async giveBack(policy: CounterPolicy, subject: string, hit: CounterHit): Promise<void> {
    await this.store.repos.throttleCounters.giveBack(policy.scope, subject, hit.windowStart);
  }

  async reset(policy: CounterPolicy, subject: string): Promise<void> {
    await this.store.repos.throttleCounters.reset(policy.scope, subject);
  }

  /** Deletes the policy's counters whose window has ended; returns how many went. */
  async purge(policy: Pick<CounterPolicy, 'scope' | 'windowMs'>): Promise<number> {
    return this.store.repos.throttleCounters.deleteStale(policy.scope, new Date(this.clock().getTime() - policy.windowMs).toISOString());
  }
}
