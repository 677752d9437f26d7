/**
 * The `entry_events` table: lifecycle events numbered per thread. A new event takes the thread's highest number + 1
 * in one INSERT … SELECT; two writers that race for a number meet the primary key and the loser retries, so a
 * number is only ever taken after every lower one is committed (a reader never sees 7 before 6).
 */
import { sql, type Kysely, type Selectable } from 'kysely';
import type { Database } from '../schema.ts';
import type { EntryEventsTable } from '../tables/generation.ts';

export type EventRow = Selectable<EntryEventsTable>;

const MAX_ATTEMPTS = 20;

export class EventsRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Appends an event to its thread and returns its number. `latestOnly`: older events of the same entry and type are
   * deleted (they are superseded; the newest is never deleted, so numbers keep growing).
   */
  async append(row: Omit<EventRow, 'seq'>, options: { latestOnly?: boolean } = {}): Promise<number> {
    let seq: number | undefined;
    for (let attempt = 1; seq === undefined; attempt++) {
      // Inside a transaction a lost race must not abort it (PostgreSQL would): the INSERT runs in a savepoint.
      const inTransaction = this.db.isTransaction;
      try {
        if (inTransaction) await sql`SAVEPOINT entry_event_append`.execute(this.db);
        const result = await sql<{ seq: number | string }>`
          INSERT INTO entry_events (thread_id, seq, user_id, entry_id, type, data, created_at)
          SELECT ${row.thread_id}, COALESCE(MAX(seq), 0) + 1, ${row.user_id}, ${row.entry_id}, ${row.type}, ${row.data}, ${row.created_at}
          FROM entry_events WHERE thread_id = ${row.thread_id}
          RETURNING seq`.execute(this.db);
        seq = Number(result.rows[0].seq);
        if (inTransaction) await sql`RELEASE SAVEPOINT entry_event_append`.execute(this.db);
      } catch (err) {
        if (inTransaction) await sql`ROLLBACK TO SAVEPOINT entry_event_append`.execute(this.db);
        if (attempt >= MAX_ATTEMPTS || !isUniqueViolation(err)) throw err;
      }
    }
    if (options.latestOnly) {
      await this.db
        .deleteFrom('entry_events')
        .where('thread_id', '=', row.thread_id)
        .where('entry_id', '=', row.entry_id)
        .where('type', '=', row.type)
        .where('seq', '<', seq)
        .execute();
    }
    return seq;
  }

  /** The user's events of a thread after `afterSeq`, oldest first. */
  async after(userId: string, threadId: string, afterSeq: number, limit: number): Promise<EventRow[]> {
    return this.db
      .selectFrom('entry_events')
      .selectAll()
      .where('thread_id', '=', threadId)
      .where('user_id', '=', userId)
      .where('seq', '>', afterSeq)
      .orderBy('seq')
      .limit(limit)
      .execute();
  }

  /** The thread's highest event number (0 without events). */
  async lastSeq(threadId: string): Promise<number> {
    const row = await this.db.selectFrom('entry_events').select((eb) => eb.fn.max('seq').as('seq')).where('thread_id', '=', threadId).executeTakeFirst();
    return Number(row?.seq ?? 0);
  }

  /** Deletes events older than `before`, except each thread's newest (it carries the thread's numbering on). */
  async deleteBefore(before: string): Promise<number> {
    const result = await this.db
      .deleteFrom('entry_events')
      .where('created_at', '<', before)
      .where('seq', '<', (eb) => eb.selectFrom('entry_events as newest').select((e) => e.fn.max('newest.seq').as('m')).whereRef('newest.thread_id', '=', 'entry_events.thread_id'))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** The events of one entry, except the thread's newest (it carries the numbering on; see deleteBefore). */
  async deleteForEntry(threadId: string, entryId: string): Promise<void> {
    const last = await this.lastSeq(threadId);
    await this.db.deleteFrom('entry_events').where('thread_id', '=', threadId).where('entry_id', '=', entryId).where('seq', '<', last).execute();
  }

  async deleteForThread(threadId: string): Promise<void> {
    await this.db.deleteFrom('entry_events').where('thread_id', '=', threadId).execute();
  }
}

function isUniqueViolation(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const code = Reflect.get(err, 'code');
  // PostgreSQL unique_violation; SQLite serialises writers, so it never races (its code is here for completeness).
  return code === '23505' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
