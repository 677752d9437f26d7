/** Browser sessions and login throttling (owned by the web/account service). Times are ISO-8601 UTC strings. */
export interface SessionsTable {
  /** SHA-256 (hex) of the cookie secret; the secret itself is never stored. */
  id: string;
  user_id: string;
  /** Synchronizer token that cookie-authenticated writes must echo in `X-CSRF-Token`. */
  csrf_token: string;
  created_at: string;
  /** Idle expiry, pushed forward while the session is used (never past created_at + the absolute lifetime). */
  expires_at: string;
  last_seen_at: string;
  user_agent: string | null;
}

/** One row per failed login, counted in a sliding window per account (email) and per client address. */
export interface LoginFailuresTable {
  id: string;
  /** `account` (subject = normalized email) or `address` (subject = client IP). */
  scope: 'account' | 'address';
  subject: string;
  created_at: string;
}

export interface WebTables {
  sessions: SessionsTable;
  login_failures: LoginFailuresTable;
}
