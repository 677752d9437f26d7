/** The `sessions` table: browser sessions, keyed by the SHA-256 of the cookie secret. */
import type { Kysely, Selectable } from 'kysely';
import type { Database } from '../schema.ts';
import type { SessionsTable } from '../tables/web.ts';

export type SessionRow = Selectable<SessionsTable>;

/** A session with its user's email, as authentication needs it. */
export interface SessionWithUser {
  id: string;
  userId: string;
  email: string;
  csrfToken: string;
  createdAt: string;
  expiresAt: string;
  lastSeenAt: string;
}

export class SessionsRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: SessionRow): Promise<void> {
    await this.db.insertInto('sessions').values(row).execute();
  }

  /** Session ids are hashes of secrets: this is authentication, before any user id is known. */
  async findWithUser(sessionId: string): Promise<SessionWithUser | undefined> {
    return this.db
      .selectFrom('sessions')
      .innerJoin('users', 'users.id', 'sessions.user_id')
      .select([
        'sessions.id as id',
        'sessions.user_id as userId',
        'users.email as email',
        'sessions.csrf_token as csrfToken',
        'sessions.created_at as createdAt',
        'sessions.expires_at as expiresAt',
        'sessions.last_seen_at as lastSeenAt',
      ])
      .where('sessions.id', '=', sessionId)
      .executeTakeFirst();
  }

  async touch(sessionId: string, change: { lastSeenAt: string; expiresAt: string }): Promise<void> {
    await this.db.updateTable('sessions').set({ last_seen_at: change.lastSeenAt, expires_at: change.expiresAt }).where('id', '=', sessionId).execute();
  }

  async delete(sessionId: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('id', '=', sessionId).execute();
  }

  async deleteForUser(userId: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('user_id', '=', userId).execute();
  }

  /** Deletes sessions expired at `now`; returns how many went. */
  async deleteExpired(now: string): Promise<number> {
    const result = await this.db.deleteFrom('sessions').where('expires_at', '<=', now).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
