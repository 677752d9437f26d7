/** The `login_failures` table: one row per failed login, counted per account (email) and per client address. */
import type { Kysely, Selectable } from 'kysely';
import type { Database } from '../schema.ts';
import type { LoginFailuresTable } from '../tables/web.ts';

export type LoginFailureRow = Selectable<LoginFailuresTable>;

export class LoginFailuresRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(rows: LoginFailureRow[]): Promise<void> {
    await this.db.insertInto('login_failures').values(rows).execute();
  }

  /** Creation times of the newest `limit` failures of one subject after `since`, newest first. */
  async recent(scope: LoginFailureRow['scope'], subject: string, window: { since: string; limit: number }): Promise<string[]> {
    const rows = await this.db
      .selectFrom('login_failures')
      .select('created_at')
      .where('scope', '=', scope)
      .where('subject', '=', subject)
      .where('created_at', '>', window.since)
      .orderBy('created_at', 'desc')
      .limit(window.limit)
      .execute();
    return rows.map((r) => r.created_at);
  }

  async deleteForSubject(scope: LoginFailureRow['scope'], subject: string): Promise<void> {
    await this.db.deleteFrom('login_failures').where('scope', '=', scope).where('subject', '=', subject).execute();
  }

  async deleteUntil(time: string): Promise<void> {
    await this.db.deleteFrom('login_failures').where('created_at', '<=', time).execute();
  }
}
