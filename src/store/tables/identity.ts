/** Accounts, applications and their API tokens. Ids are UUID strings and times ISO-8601 UTC strings, so the same rows work on SQLite and PostgreSQL. */
export interface UsersTable {
  id: string;
  email: string;
  password_hash: string;
  /** Spendable balance; reservations are already subtracted. Never negative. */
  credits: number;
  created_at: string;
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

export interface IdentityTables {
  users: UsersTable;
  applications: ApplicationsTable;
  api_tokens: ApiTokensTable;
}
