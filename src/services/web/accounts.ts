/**
 * Self-service accounts for the web UI: registration (with the sign-up credit grant), throttled
 * password login that opens a browser session, and logout.
 */
import { AppError } from '../../domain/errors.ts';
import type { User, UserService } from '../identity/users.ts';
import type { LoginThrottle } from './login-throttle.ts';
import type { NewSession, SessionService } from './sessions.ts';

/** The part of the credit ledger that registration needs. */
export interface CreditGrant {
  grant(userId: string, amount: number, reason: string): Promise<unknown>;
}

/** A refused login: the route turns `retryAfterSeconds` into a Retry-After header. */
export class LoginThrottledError extends AppError {
  constructor(readonly retryAfterSeconds: number) {
    super('rate_limited', `Too many failed login attempts. Try again in ${retryAfterSeconds} seconds.`);
  }
}

export interface AccountServiceDeps {
  users: UserService;
  sessions: SessionService;
  throttle: LoginThrottle;
  credits: CreditGrant;
  signupCredits: number;
}

export class AccountService {
  constructor(private readonly deps: AccountServiceDeps) {}

  /** Creates the account, grants the sign-up credits and opens its first session. */
  async register(email: string, password: string, userAgent?: string): Promise<{ user: User; session: NewSession }> {
    const created = await this.deps.users.create(email, password);
    if (this.deps.signupCredits > 0) {
      await this.deps.credits.grant(created.id, this.deps.signupCredits, 'Sign-up credits');
    }
    const session = await this.deps.sessions.create(created.id, userAgent);
    return { user: await this.deps.users.get(created.id), session };
  }

  /** Checks the password and opens a session; unknown email and wrong password get the same answer. */
  async login(email: string, password: string, address: string, userAgent?: string): Promise<NewSession> {
    const verdict = await this.deps.throttle.check(email, address);
    if (!verdict.allowed) throw new LoginThrottledError(verdict.retryAfterSeconds);
    const user = await this.deps.users.verify(email, password);
    if (!user) {
      await this.deps.throttle.recordFailure(email, address);
      throw AppError.validation({ email: ['These credentials do not match our records.'] });
    }
    await this.deps.throttle.recordSuccess(email);
    await this.deps.sessions.purgeExpired();
    return this.deps.sessions.create(user.id, userAgent);
  }

  async logout(sessionId: string): Promise<void> {
    await this.deps.sessions.destroy(sessionId);
  }
}
