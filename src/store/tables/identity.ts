import type { ColumnType } from 'kysely';
import type { AccountPriority } from '../../domain/scheduling.ts';

/** Accounts, applications and their API tokens. Ids are UUID strings and times ISO-8601 UTC strings, so the same rows work on SQLite and PostgreSQL. */
export interface UsersTable {
  id: string;
  email: string;
  password_hash: string;
  /** Spendable balance; reservations are already subtracted. Never negative. */
  credits: number;
  created_at: string;
  /** Scheduling weight class: 'high' (4), 'normal' (2), 'low' (1). Defaults to 'normal' on insert. */
  priority: ColumnType<AccountPriority, AccountPriority | undefined, AccountPriority>;
  /** How many of the account's jobs may run at once across all workers (default 2). */
  max_running: ColumnType<number, number | undefined, number>;
  /** How many of the account's jobs may wait (default 20); a request beyond it answers 429. */
  max_queued: ColumnType<number, number | undefined, number>;
}

export interface ApplicationsTable {
  id: string;
  user_id: string;
  name: string;
  created_at: string;
  updated_at: string;
}

export interface ApiTokensTable {
  id: string;
  application_id: string;
  user_id: string;
  name: string;
  /** First characters of the token, shown so users can tell tokens apart. */
  prefix: string;
  /** SHA-256 of the whole token; the token itself is never stored. */
  token_hash: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

/** Sign-up invites made by the operator (`sdapi invites create`); the code itself is never stored. */
export interface InvitesTable {
  id: string;
  /** SHA-256 (hex) of the invite code. */
  code_hash: string;
  /** Credits of an account made with the invite; null = SDAPI_SIGNUP_CREDITS. */
  credits: number | null;
  max_uses: number;
  uses: number;
  expires_at: string | null;
  revoked_at: string | null;
  created_at: string;
}

export interface IdentityTables {
  users: UsersTable;
  applications: ApplicationsTable;
  api_tokens: ApiTokensTable;
  invites: InvitesTable;
}
