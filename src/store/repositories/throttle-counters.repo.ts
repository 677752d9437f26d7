/**
 * The `throttle_counters` table: fixed-window counters. `hit()` is one atomic upsert (SQLite and PostgreSQL both lock
 * the row for INSERT … ON CONFLICT DO UPDATE), so N concurrent hits on one counter return N distinct counts: a check
 * made on the returned count lets exactly the first `limit` through, however the requests interleave.
 */
import { sql, type Kysely, type Selectable } from 'kysely';
import type { Database } from '../schema.ts';
import type { ThrottleCountersTable } from '../tables/web.ts';

export type ThrottleCounterRow = Selectable<ThrottleCountersTable>;

export interface CounterState {
  count: number;
  /** When the window this count belongs to began (ISO-8601). */
  windowStart: string;
}

export class ThrottleCountersRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Counts one event at `now`. A window that began at or before `staleBefore` is over: the count starts again at 1
   * in a window beginning now. Returns the count including this event.
   */
  async hit(scope: string, subject: string, at: { now: string; staleBefore: string }): Promise<CounterState> {
    const stale = sql<boolean>`${sql.ref('throttle_counters.window_start')} <= ${at.staleBefore}`;
    const row = await this.db
      .insertInto('throttle_counters')
      .values({ scope, subject, count: 1, window_start: at.now })
      .onConflict((oc) =>
        oc.columns(['scope', 'subject']).doUpdateSet({
          count: sql<number>`case when ${stale} then 1 else ${sql.ref('throttle_counters.count')} + 1 end`,
          window_start: sql<string>`case when ${stale} then ${at.now} else ${sql.ref('throttle_counters.window_start')} end`,
        }),
      )
      .returning(['count', 'window_start'])
      .executeTakeFirstOrThrow();
    return { count: Number(row.count), windowStart: row.window_start };
  }

  /** Takes one event back from the window that began at `windowStart` (nothing when that window is gone). */
  async giveBack(scope: string, subject: string, windowStart: string): Promise<void> {
    await this.db
      .updateTable('throttle_counters')
      .set({ count: sql<number>`count - 1` })
      .where('scope', '=', scope)
      .where('subject', '=', subject)
      .where('window_start', '=', windowStart)
      .where('count', '>', 0)
      .execute();
  }

  async find(scope: string, subject: string): Promise<ThrottleCounterRow | undefined> {
    return this.db.selectFrom('throttle_counters').selectAll().where('scope', '=', scope).where('subject', '=', subject).executeTakeFirst();
  }

  async reset(scope: string, subject: string): Promise<void> {
    await this.db.deleteFrom('throttle_counters').where('scope', '=', scope).where('subject', '=', subject).execute();
  }

  /** Deletes the counters of `scope` whose window began at or before `staleBefore`; returns how many went. */
  async deleteStale(scope: string, staleBefore: string): Promise<number> {
    const result = await this.db.deleteFrom('throttle_counters').where('scope', '=', scope).where('window_start', '<=', staleBefore).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
