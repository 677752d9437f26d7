/**
 * Self-service accounts for the web UI and the API: registration (open, closed or by invite; throttled per client
 * address; with the sign-up credit grant), throttled password login that opens a browser session, and logout.
 */
import { AppError, ThrottledError } from '../../domain/errors.ts';
import type { InviteService } from '../identity/invites.ts';
import type { User, UserService } from '../identity/users.ts';
import { FixedWindowCounters, type CounterPolicy } from '../limits/fixed-window-counters.ts';
import type { LoginThrottle } from './login-throttle.ts';
import type { NewSession, SessionService } from './sessions.ts';

export { LoginThrottledError } from './login-throttle.ts';

/** The part of the credit ledger that registration needs. */
export interface CreditGrant {
  grant(userId: string, amount: number, reason: string): Promise<unknown>;
}

export type SignupMode = 'open' | 'closed' | 'invite';

export interface SignupPolicy {
  mode: SignupMode;
  /** Credits of a new account (an invite may set its own). */
  credits: number;
  /** Registrations per client address and window; undefined = unlimited. */
  limit?: { count: number; windowMs: number };
}

export interface RegistrationRequest {
  email: string;
  password: string;
  /** The client address the registration counts against. */
  address: string;
  /** An invite code (required when the mode is `invite`). */
  invite?: string;
  userAgent?: string;
}

export interface AccountServiceDeps {
  users: UserService;
  sessions: SessionService;
  throttle: LoginThrottle;
  credits: CreditGrant;
  invites: InviteService;
  /** Counters for the registration throttle (FixedWindowCounters over the store). */
  counters: FixedWindowCounters;
  signup: SignupPolicy;
}

const INVITE_REFUSED = 'The invite code is not valid: it may be mistyped, used up, expired or revoked.';

export class AccountService {
  readonly #signupLimit: CounterPolicy | undefined;

  constructor(private readonly deps: AccountServiceDeps) {
    const limit = deps.signup.limit;
    this.#signupLimit = limit && { scope: 'signup:address', limit: limit.count, windowMs: limit.windowMs };
  }

  get signupMode(): SignupMode {
    return this.deps.signup.mode;
  }

  /** The database counters registration and login keep, for the housekeeping sweep. */
  get counterPolicies(): readonly CounterPolicy[] {
    return [...this.deps.throttle.policies, ...(this.#signupLimit ? [this.#signupLimit] : [])];
  }

  /**
   * Creates the account, grants its credits and opens its first session. In order: the mode, the input (one 422
   * naming every bad field, 409 for a taken email), the per-address throttle (429, counted before the account is
   * made so parallel registrations cannot slip past it), the invite; a registration that fails after the throttle
   * or the invite gives both back.
   */
  async register(request: RegistrationRequest): Promise<{ user: User; session: NewSession }> {
    const { mode } = this.deps.signup;
    if (mode === 'closed') throw new AppError('signup_closed', 'Registration is closed on this server: ask its operator for an account.');
    const invite = request.invite?.trim() || undefined;
    try {
      await this.deps.users.checkNew(request.email, request.password);
    } catch (err) {
      // One 422 for everything wrong with the form, the missing invite included.
      if (mode === 'invite' && !invite && err instanceof AppError && err.code === 'validation_failed') {
        throw AppError.validation({ ...err.fields, invite: ['An invite code is required to register on this server.'] });
      }
      throw err;
    }
    if (mode === 'invite' && !invite) throw AppError.validation({ invite: ['An invite code is required to register on this server.'] });

    const counters = this.deps.counters;
    const limit = this.#signupLimit;
    const hit = limit ? await counters.hit(limit, request.address) : undefined;
    if (limit && hit && !hit.allowed) {
      throw new ThrottledError(`Too many registrations from this address. Try again in ${hit.retryAfterSeconds} seconds.`, hit.retryAfterSeconds);
    }
    const giveBack = async () => {
      if (limit && hit) await counters.giveBack(limit, request.address, hit);
    };

    let redeemed: { id: string; credits: number | null } | undefined;
    if (invite) {
      redeemed = await this.deps.invites.redeem(invite);
      if (!redeemed) {
        await giveBack();
        throw AppError.validation({ invite: [INVITE_REFUSED] });
      }
    }
    let created: User;
    try {
      created = await this.deps.users.create(request.email, request.password);
    } catch (err) {
      // e.g. the same email registered concurrently (409): neither the invite nor the address pays for it.
      if (redeemed) await this.deps.invites.release(redeemed.id);
      await giveBack();
      throw err;
    }
    const credits = redeemed?.credits ?? this.deps.signup.credits;
    if (credits > 0) await this.deps.credits.grant(created.id, credits, redeemed ? 'Sign-up credits (invite)' : 'Sign-up credits');
    const session = await this.deps.sessions.create(created.id, request.userAgent);
    return { user: await this.deps.users.get(created.id), session };
  }

  /**
   * Checks the password and opens a session; unknown email and wrong password get the same answer. The attempt is
   * counted before the password is checked (LoginThrottle), so parallel guesses are throttled like serial ones.
   */
  async login(email: string, password: string, address: string, userAgent?: string): Promise<NewSession> {
    const attempt = await this.deps.throttle.begin(email, address);
    const user = await this.deps.users.verify(email, password);
    if (!user) throw AppError.validation({ email: ['These credentials do not match our records.'] });
    await attempt.succeeded();
    return this.deps.sessions.create(user.id, userAgent);
  }

  async logout(sessionId: string): Promise<void> {
    await this.deps.sessions.destroy(sessionId);
  }
}
