/**
 * Login throttling: failed attempts are counted in a sliding window per account (the normalized email,
 * whether or not it exists) and per client address. The counts live in the database, so a restart
 * does not reset them and several server processes share them.
 */
import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../../domain/clock.ts';
import type { DataStore } from '../../store/database.ts';
import { normalizeEmail } from '../identity/users.ts';

export interface ThrottleOptions {
  /** Failures per account within the window before further attempts are refused. */
  accountLimit: number;
  /** Failures per client address within the window before further attempts are refused. */
  addressLimit: number;
  windowMs: number;
}

export const THROTTLE_DEFAULTS: ThrottleOptions = { accountLimit: 5, addressLimit: 20, windowMs: 15 * 60_000 };

export type ThrottleVerdict = { allowed: true } | { allowed: false; retryAfterSeconds: number; scope: 'account' | 'address' };

export class LoginThrottle {
  constructor(
    private readonly store: DataStore,
    readonly options: ThrottleOptions = THROTTLE_DEFAULTS,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Whether a login attempt may go ahead; when it may not, how long until it may. */
  async check(email: string, address: string): Promise<ThrottleVerdict> {
    const account = await this.verdict('account', normalizeEmail(email), this.options.accountLimit);
    if (!account.allowed) return account;
    return this.verdict('address', address, this.options.addressLimit);
  }

  async recordFailure(email: string, address: string): Promise<void> {
    const now = this.clock();
    const createdAt = now.toISOString();
    await this.store.repos.loginFailures.insert([
      { id: randomUUID(), scope: 'account', subject: normalizeEmail(email), created_at: createdAt },
      { id: randomUUID(), scope: 'address', subject: address, created_at: createdAt },
    ]);
    // Old rows no longer count; drop them as we go so the table stays small.
    await this.store.repos.loginFailures.deleteUntil(new Date(now.getTime() - this.options.windowMs).toISOString());
  }

  /** A successful login clears the account's failures (the address keeps its count). */
  async recordSuccess(email: string): Promise<void> {
    await this.store.repos.loginFailures.deleteForSubject('account', normalizeEmail(email));
  }

  private async verdict(scope: 'account' | 'address', subject: string, limit: number): Promise<ThrottleVerdict> {
    const now = this.clock().getTime();
    const failures = await this.store.repos.loginFailures.recent(scope, subject, { since: new Date(now - this.options.windowMs).toISOString(), limit });
    if (failures.length < limit) return { allowed: true };
    // The oldest of the newest `limit` failures must leave the window before one more attempt is allowed.
    const oldest = Date.parse(failures[failures.length - 1]);
    const retryAfterSeconds = Math.max(1, Math.ceil((oldest + this.options.windowMs - now) / 1000));
    return { allowed: false, retryAfterSeconds, scope };
  }
}
