/**
 * Browser sessions. The cookie carries a random secret; the store keeps only its SHA-256, so a leaked
 * database does not hand out live sessions. Each session has its own CSRF token, an idle expiry that
 * slides forward while the session is used, and an absolute lifetime it never passes.
 */
import { randomBytes } from 'node:crypto';
import { systemClock, type Clock } from '../../domain/clock.ts';
import type { DataStore } from '../../store/database.ts';
import { hashSecret } from '../identity/secrets.ts';

export interface SessionOptions {
  /** A session unused for this long expires. */
  idleMs: number;
  /** No session lives longer than this, however often it is used. */
  absoluteMs: number;
  /** Activity is written back at most this often, so polling pages do not turn every read into a write. */
  touchIntervalMs: number;
}

export const SESSION_DEFAULTS: SessionOptions = {
  idleMs: 7 * 24 * 3600_000,
  absoluteMs: 30 * 24 * 3600_000,
  touchIntervalMs: 60_000,
};

export interface SessionPrincipal {
  sessionId: string;
  userId: string;
  email: string;
  csrfToken: string;
  expiresAt: string;
}

export interface NewSession extends SessionPrincipal {
  /** The cookie value; returned here only. */
  secret: string;
}

const SECRET_MAX = 200;

export class SessionService {
  constructor(
    private readonly store: DataStore,
    readonly options: SessionOptions = SESSION_DEFAULTS,
    private readonly clock: Clock = systemClock,
  ) {}

  async create(userId: string, userAgent?: string): Promise<NewSession> {
    const secret = randomBytes(32).toString('base64url');
    const now = this.clock();
    const row = {
      id: hashSecret(secret),
      user_id: userId,
      csrf_token: randomBytes(32).toString('base64url'),
      created_at: now.toISOString(),
      expires_at: new Date(now.getTime() + Math.min(this.options.idleMs, this.options.absoluteMs)).toISOString(),
      last_seen_at: now.toISOString(),
      user_agent: userAgent ? userAgent.slice(0, 300) : null,
    };
    await this.store.repos.sessions.insert(row);
    const user = await this.store.repos.users.findById(userId);
    return { secret, sessionId: row.id, userId, email: user?.email ?? '', csrfToken: row.csrf_token, expiresAt: row.expires_at };
  }

  /** Resolves a cookie secret to its live session, sliding the idle expiry forward; expired or unknown secrets resolve to nothing. */
  async authenticate(secret: string): Promise<SessionPrincipal | undefined> {
    if (secret.length === 0 || secret.length > SECRET_MAX) return undefined;
    const id = hashSecret(secret);
    const row = await this.store.repos.sessions.findWithUser(id);
    if (!row) return undefined;
    const now = this.clock();
    if (Date.parse(row.expiresAt) <= now.getTime()) {
      await this.store.repos.sessions.delete(id);
      return undefined;
    }
    let expiresAt = row.expiresAt;
    if (now.getTime() - Date.parse(row.lastSeenAt) >= this.options.touchIntervalMs) {
      const hardEnd = Date.parse(row.createdAt) + this.options.absoluteMs;
      expiresAt = new Date(Math.min(now.getTime() + this.options.idleMs, hardEnd)).toISOString();
      await this.store.repos.sessions.touch(id, { lastSeenAt: now.toISOString(), expiresAt });
    }
    return { sessionId: row.id, userId: row.userId, email: row.email, csrfToken: row.csrfToken, expiresAt };
  }

  /** The live session with this id (ids are hashes, never cookie values); used to hand the UI its CSRF token. */
  async get(sessionId: string): Promise<SessionPrincipal | undefined> {
    const row = await this.store.repos.sessions.findWithUser(sessionId);
    if (!row || Date.parse(row.expiresAt) <= this.clock().getTime()) return undefined;
    return { sessionId: row.id, userId: row.userId, email: row.email, csrfToken: row.csrfToken, expiresAt: row.expiresAt };
  }

  async destroy(sessionId: string): Promise<void> {
    await this.store.repos.sessions.delete(sessionId);
  }

  async destroyAllForUser(userId: string): Promise<void> {
    await this.store.repos.sessions.deleteForUser(userId);
  }

  /** Deletes expired rows; returns how many went. */
  async purgeExpired(): Promise<number> {
    return this.store.repos.sessions.deleteExpired(this.clock().toISOString());
  }
}
