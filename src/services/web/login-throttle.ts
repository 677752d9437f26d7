/**
 * Login throttling: failed attempts are counted in a sliding window per account (the normalized email,
 * whether or not it exists) and per client address. The counts live in the database, so a restart
 * does not reset them and several server processes share them.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../../store/schema.ts';
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
    private readonly db: Kysely<Database>,
    readonly options: ThrottleOptions = THROTTLE_DEFAULTS,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Whether a login attempt may go ahead; when it may not, how long until it may. */
  async check(email: string, address: string): Promise<ThrottleVerdict> {
    const account = await this.verdict('account', normalizeEmail(email), this.options.accountLimit);
    if (!account.allowed) return account;
    return this.verdict('address', address, this.options.addressLimit);
  }

  async recordFailure(email: string, address: string): Promise<void> {
    const now = this.now();
    const createdAt = now.toISOString();
    await this.db
      .insertInto('login_failures')
      .values([
        { id: randomUUID(), scope: 'account', subject: normalizeEmail(email), created_at: createdAt },
        { id: randomUUID(), scope: 'address', subject: address, created_at: createdAt },
      ])
      .execute();
    // Old rows no longer count; drop them as we go so the table stays small.
    await this.db
      .deleteFrom('login_failures')
      .where('created_at', '<=', new Date(now.getTime() - this.options.windowMs).toISOString())
      .execute();
  }

  /** A successful login clears the account's failures (the address keeps its count). */
  async recordSuccess(email: string): Promise<void> {
    await this.db.deleteFrom('login_failures').where('scope', '=', 'account').where('subject', '=', normalizeEmail(email)).execute();
  }

  private async verdict(scope: 'account' | 'address', subject: string, limit: number): Promise<ThrottleVerdict> {
    const now = this.now().getTime();
    const since = new Date(now - this.options.windowMs).toISOString();
    const rows = await this.db
      .selectFrom('login_failures')
      .select('created_at')
      .where('scope', '=', scope)
      .where('subject', '=', subject)
      .where('created_at', '>', since)
      .orderBy('created_at', 'desc')
      .limit(limit)
      .execute();
    if (rows.length < limit) return { allowed: true };
    // The oldest of the newest `limit` failures must leave the window before one more attempt is allowed.
    const oldest = Date.parse(rows[rows.length - 1].created_at);
    const retryAfterSeconds = Math.max(1, Math.ceil((oldest + this.options.windowMs - now) / 1000));
    return { allowed: false, retryAfterSeconds, scope };
  }
}
