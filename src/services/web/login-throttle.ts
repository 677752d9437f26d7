/**
 * Login throttling. Every attempt is counted atomically *before* its password is checked, so parallel guesses are
 * throttled exactly like serial ones. The policy (README, "Accounts and abuse"):
 *
 * - per (account, client address): `pairLimit` attempts per window; past it that address gets 429 for that account
 *   until the window ends. A success resets the pair. An attacker can lock only their own address out of an account,
 *   never the owner at another address.
 * - per client address over all accounts: `addressLimit` failed attempts per window (password spraying); past it
 *   the address gets 429 for every account. Successes are given back.
 * - per account over all addresses: past `accountSlowAfter` failed attempts in the window, every further attempt on
 *   the account waits before its password is checked, `delayMs` doubling per failure up to `delayMaxMs`. A distributed
 *   attack slows the owner down; it never locks the owner out.
 *
 * Counters live in the database (throttle_counters): a restart does not reset them and every API process shares them.
 * The account key is the normalized email whether or not such an account exists, so throttling reveals nothing.
 */
import { systemClock, type Clock } from '../../domain/clock.ts';
import { ThrottledError } from '../../domain/errors.ts';
import type { DataStore } from '../../store/database.ts';
import { normalizeEmail } from '../identity/users.ts';
import { FixedWindowCounters, type CounterHit, type CounterPolicy } from '../limits/fixed-window-counters.ts';

export interface LoginThrottleOptions {
  /** Attempts per (account, address) in a window. */
  pairLimit: number;
  /** Failed attempts per address, over all accounts, in a window. */
  addressLimit: number;
  /** Failed attempts per account, over all addresses, in a window before each further attempt waits. */
  accountSlowAfter: number;
  windowMs: number;
  /** The first wait past accountSlowAfter; it doubles with each further failure. */
  delayMs: number;
  delayMaxMs: number;
}

export const LOGIN_THROTTLE_DEFAULTS: LoginThrottleOptions = {
  pairLimit: 5,
  addressLimit: 20,
  accountSlowAfter: 10,
  windowMs: 15 * 60_000,
  delayMs: 1000,
  delayMaxMs: 8000,
};

/** A refused login: the API answers 429 with `retryAfterSeconds` as Retry-After. */
export class LoginThrottledError extends ThrottledError {
  constructor(
    retryAfterSeconds: number,
    readonly scope: 'pair' | 'address',
  ) {
    super(`Too many failed login attempts. Try again in ${retryAfterSeconds} seconds.`, retryAfterSeconds);
  }
}

/** A login attempt that may go ahead: report a success so it does not count as a failure. */
export interface LoginAttempt {
  /** How long the attempt waited before it was let through (0 unless the account is under attack). */
  waitedMs: number;
  succeeded(): Promise<void>;
}

export interface LoginThrottleDeps {
  clock?: Clock;
  /** Waits `ms` (tests pass one that records instead of sleeping). */
  wait?: (ms: number) => Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class LoginThrottle {
  readonly #counters: FixedWindowCounters;
  readonly #wait: (ms: number) => Promise<void>;
  readonly #pair: CounterPolicy;
  readonly #address: CounterPolicy;
  readonly #account: CounterPolicy;

  constructor(
    store: DataStore,
    readonly options: LoginThrottleOptions = LOGIN_THROTTLE_DEFAULTS,
    deps: LoginThrottleDeps = {},
  ) {
    this.#counters = new FixedWindowCounters(store, deps.clock ?? systemClock);
    this.#wait = deps.wait ?? sleep;
    this.#pair = { scope: 'login:pair', limit: options.pairLimit, windowMs: options.windowMs };
    this.#address = { scope: 'login:address', limit: options.addressLimit, windowMs: options.windowMs };
    // Never refuses: the account-wide count only sets the wait.
    this.#account = { scope: 'login:account', limit: Number.MAX_SAFE_INTEGER, windowMs: options.windowMs };
  }

  /** The counters this throttle keeps, for the housekeeping sweep. */
  get policies(): readonly CounterPolicy[] {
    return [this.#pair, this.#address, this.#account];
  }

  /**
   * Counts the attempt, then lets it through (after the account's wait, if any) or throws LoginThrottledError.
   * An attempt refused for its pair is not counted for the address or the account: it checked no password.
   */
  async begin(email: string, address: string): Promise<LoginAttempt> {
    const account = normalizeEmail(email);
    // Addresses contain no spaces, so "address email" splits unambiguously.
    const pairKey = `${address} ${account}`;
    const pair = await this.#counters.hit(this.#pair, pairKey);
    if (!pair.allowed) throw new LoginThrottledError(pair.retryAfterSeconds, 'pair');
    const byAddress = await this.#counters.hit(this.#address, address);
    if (!byAddress.allowed) {
      await this.#counters.giveBack(this.#pair, pairKey, pair);
      throw new LoginThrottledError(byAddress.retryAfterSeconds, 'address');
    }
    const byAccount = await this.#counters.hit(this.#account, account);
    const waitedMs = this.#delayFor(byAccount);
    if (waitedMs > 0) await this.#wait(waitedMs);
    return {
      waitedMs,
      succeeded: async () => {
        await this.#counters.reset(this.#pair, pairKey);
        await this.#counters.giveBack(this.#address, address, byAddress);
        await this.#counters.giveBack(this.#account, account, byAccount);
      },
    };
  }

  #delayFor(hit: CounterHit): number {
    // hit.count includes this attempt: the failures before it are count - 1.
    const excess = hit.count - 1 - this.options.accountSlowAfter;
    if (excess < 0) return 0;
    return Math.min(this.options.delayMaxMs, this.options.delayMs * 2 ** Math.min(excess, 30));
  }
}
