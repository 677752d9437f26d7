/** Browser sessions and throttling (owned by the web/account service). Times are ISO-8601 UTC strings. */
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

/**
 * A fixed-window counter: `count` events of one (scope, subject) since `window_start`. Incremented by one atomic upsert
 * that also starts a new window once the old one has passed, so concurrent requests each see a distinct count.
 */
export interface ThrottleCountersTable {
  /** What is counted, e.g. `login:pair`, `login:address`, `login:account`, `signup:address`. */
  scope: string;
  /** Whom it is counted for: an address, a normalized email, or `email address`. */
  subject: string;
  count: number;
  window_start: string;
}

export interface WebTables {
  sessions: SessionsTable;
  throttle_counters: ThrottleCountersTable;
}
