/** Accounts: creation with a hashed password, lookup, and credential checks. */
import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../../domain/clock.ts';
import { AppError, type FieldErrors } from '../../domain/errors.ts';
import type { DataStore } from '../../store/database.ts';
import { isUniqueViolation } from '../../store/errors.ts';
import type { UserRow } from '../../store/repositories/users.repo.ts';
import { passwordProblems } from './password-policy.ts';
import { hashPassword, verifyPassword } from './passwords.ts';

export interface User {
  id: string;
  email: string;
  credits: number;
  createdAt: string;
}

const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,255}$/;

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** Checks a new account's email and password (the password policy, password-policy.ts); one 422 names every problem. */
export async function checkCredentials(email: string, password: string): Promise<void> {
  const fields: FieldErrors = {};
  if (!EMAIL.test(normalizeEmail(email))) fields.email = ['The email must be a valid email address.'];
  const problems = await passwordProblems(password, { email });
  if (problems.length > 0) fields.password = problems;
  if (Object.keys(fields).length > 0) throw AppError.validation(fields);
}

const emailTaken = () => new AppError('conflict', 'An account with this email already exists.', { email: ['The email has already been taken.'] });

export class UserService {
  constructor(
    private readonly store: DataStore,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Refuses what create() would refuse for its input (422 for the email or password, 409 for a taken email), without creating anything. */
  async checkNew(email: string, password: string): Promise<void> {
    await checkCredentials(email, password);
    if (await this.store.repos.users.findByEmail(normalizeEmail(email))) throw emailTaken();
  }

  /** Creates an account with a zero balance; credits are granted through the credit ledger. */
  async create(email: string, password: string): Promise<User> {
    await this.checkNew(email, password);
    const normalized = normalizeEmail(email);
    const row: Pick<UserRow, 'id' | 'email' | 'password_hash' | 'credits' | 'created_at'> = { id: randomUUID(), email: normalized, password_hash: await hashPassword(password), credits: 0, created_at: this.clock().toISOString() };
    try {
      await this.store.repos.users.insert(row);
    } catch (err) {
      // Two concurrent sign-ups with one email: the UNIQUE index decides (SQLite or PostgreSQL code).
      if (isUniqueViolation(err)) throw emailTaken();
      throw err;
    }
    return toUser(row);
  }

  async findByEmail(email: string): Promise<User | undefined> {
    const row = await this.store.repos.users.findByEmail(normalizeEmail(email));
    return row && toUser(row);
  }

  async get(id: string): Promise<User> {
    const row = await this.store.repos.users.findById(id);
    if (!row) throw new AppError('not_found', 'User not found.');
    return toUser(row);
  }

  async requireByEmail(email: string): Promise<User> {
    const user = await this.findByEmail(email);
    if (!user) throw new AppError('not_found', `No account with email ${normalizeEmail(email)}.`);
    return user;
  }

  /** Returns the user when the password matches; the same answer for an unknown email and a wrong password. */
  async verify(email: string, password: string): Promise<User | undefined> {
    const row = await this.store.repos.users.findByEmail(normalizeEmail(email));
    if (!row) {
      // Spend the same time as a real check, so response time does not reveal which emails exist.
      await verifyPassword(password, DUMMY_HASH);
      return undefined;
    }
    return (await verifyPassword(password, row.password_hash)) ? toUser(row) : undefined;
  }
}

const DUMMY_HASH = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

function toUser(row: Pick<UserRow, 'id' | 'email' | 'credits' | 'created_at'>): User {
  return { id: row.id, email: row.email, credits: Number(row.credits), createdAt: row.created_at };
}
