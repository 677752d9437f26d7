/** Accounts: creation with a hashed password, lookup, and credential checks. */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../../store/schema.ts';
import { isUniqueViolation } from '../../store/errors.ts';
import { AppError } from '../errors.ts';
import { hashPassword, verifyPassword } from './passwords.ts';

export interface User {
  id: string;
  email: string;
  credits: number;
  createdAt: string;
}

const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,255}$/;
export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 256;

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

export function checkCredentials(email: string, password: string): void {
  const fields: Record<string, string[]> = {};
  if (!EMAIL.test(normalizeEmail(email))) fields.email = ['The email must be a valid email address.'];
  if (password.length < PASSWORD_MIN || password.length > PASSWORD_MAX) {
    fields.password = [`The password must be between ${PASSWORD_MIN} and ${PASSWORD_MAX} characters.`];
  }
  if (Object.keys(fields).length > 0) throw AppError.validation(fields);
}

export class UserService {
  constructor(private readonly db: Kysely<Database>) {}

  /** Creates an account with a zero balance; credits are granted through the credit ledger. */
  async create(email: string, password: string): Promise<User> {
    checkCredentials(email, password);
    const normalized = normalizeEmail(email);
    if (await this.findByEmail(normalized)) {
      throw new AppError('conflict', 'An account with this email already exists.', { email: ['The email has already been taken.'] });
    }
    const row = {
      id: randomUUID(),
      email: normalized,
      password_hash: await hashPassword(password),
      credits: 0,
      created_at: new Date().toISOString(),
    };
    try {
      await this.db.insertInto('users').values(row).execute();
    } catch (err) {
      // Two concurrent sign-ups with one email: the UNIQUE index decides (SQLite or PostgreSQL code).
      if (isUniqueViolation(err)) throw new AppError('conflict', 'An account with this email already exists.', { email: ['The email has already been taken.'] });
      throw err;
    }
    return { id: row.id, email: row.email, credits: 0, createdAt: row.created_at };
  }

  async findByEmail(email: string): Promise<User | undefined> {
    const row = await this.db.selectFrom('users').selectAll().where('email', '=', normalizeEmail(email)).executeTakeFirst();
    return row && toUser(row);
  }

  async get(id: string): Promise<User> {
    const row = await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
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
    const row = await this.db.selectFrom('users').selectAll().where('email', '=', normalizeEmail(email)).executeTakeFirst();
    if (!row) {
      // Spend the same time as a real check, so response time does not reveal which emails exist.
      await verifyPassword(password, DUMMY_HASH);
      return undefined;
    }
    return (await verifyPassword(password, row.password_hash)) ? toUser(row) : undefined;
  }
}

const DUMMY_HASH = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

function toUser(row: { id: string; email: string; credits: number; created_at: string }): User {
  return { id: row.id, email: row.email, credits: Number(row.credits), createdAt: row.created_at };
}
