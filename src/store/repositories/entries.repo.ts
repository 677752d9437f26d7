/** The `entries` table: request and response entries of threads. Every method is scoped by user id. */
import type { Kysely, Selectable } from 'kysely';
import type { Dialect } from '../dialect.ts';
import { prepareQuery, type DirectSqlite, type PreparedQuery } from '../prepared-query.ts';
import type { Database } from '../schema.ts';
import type { EntriesTable, EntryStatus } from '../tables/generation.ts';

export type EntryRow = Selectable<EntriesTable>;

/** What listing a thread reads: everything a client sees, not the bookkeeping columns (owner, files, seq). */
export const ENTRY_LIST_COLUMNS = ['id', 'thread_id', 'type', 'request_id', 'content', 'error', 'waiting_response', 'credits', 'status', 'progress', 'created_at', 'updated_at'] as const;
export type EntryListRow = Pick<EntryRow, (typeof ENTRY_LIST_COLUMNS)[number]>;

type Nullable<T> = { [K in keyof T]: T[K] | null };

/** A joined row that has an entry (its NOT NULL columns are then all set). */
function isEntry<T extends Nullable<EntryListRow>>(row: T): row is T & EntryListRow {
  return row.id !== null;
}

export class EntriesRepository {
  #threadEntries: PreparedQuery<[string, string], Nullable<EntryListRow> & { thread_version: number }> | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
    /** Unused on purpose: a listed page may be cached, so it is always read through Kysely's connection lock. */
    private readonly direct?: DirectSqlite,
  ) {}

  /**
   * Inserts an entry numbered after the thread's last one. Locks the thread row first (PostgreSQL), so two writers
   * never take the same number; call inside a transaction.
   */
  async insert(row: Omit<EntryRow, 'seq'>): Promise<EntryRow> {
    if (this.dialect === 'postgres') await this.db.selectFrom('threads').select('id').where('id', '=', row.thread_id).forUpdate().execute();
    const last = await this.db.selectFrom('entries').select((eb) => eb.fn.max('seq').as('seq')).where('thread_id', '=', row.thread_id).executeTakeFirst();
    const full: EntryRow = { ...row, seq: Number(last?.seq ?? 0) + 1 };
    await this.db.insertInto('entries').values(full).execute();
    return full;
  }

  /**
   * The thread's entries in the order they were written with the thread's entries version (read in the same
   * statement, so the rows are at least that new), or undefined when the user has no such thread. One prepared
   * query: the thread row proves ownership, the joined rows are its entries.
   */
  async listForThread(userId: string, threadId: string): Promise<{ version: number; rows: EntryListRow[] } | undefined> {
    this.#threadEntries ??= prepareQuery(this.db, 2, (thread: string, user: string) =>
      this.db
        .selectFrom('threads')
        .leftJoin('entries', 'entries.thread_id', 'threads.id')
        .select(ENTRY_LIST_COLUMNS.map((c) => `entries.${c}` as const))
        .select('threads.version as thread_version')
        .where('threads.id', '=', thread)
        .where('threads.user_id', '=', user)
        .orderBy('entries.seq'),
    );
    const rows = await this.#threadEntries(threadId, userId);
    if (rows.length === 0) return undefined;
    // A thread without entries comes back as one row of NULL entry columns (the LEFT JOIN).
    return { version: Number(rows[0].thread_version), rows: rows.filter(isEntry) };
  }

  async findRequest(userId: string, entryId: string): Promise<EntryRow | undefined> {
    return this.db.selectFrom('entries').selectAll().where('id', '=', entryId).where('user_id', '=', userId).where('type', '=', 'request').executeTakeFirst();
  }

  /** A request entry and its response entry (when written), as a thread's list shows them. */
  async requestWithResponse(userId: string, requestId: string): Promise<EntryListRow[]> {
    return this.db
      .selectFrom('entries')
      .select([...ENTRY_LIST_COLUMNS])
      .where('user_id', '=', userId)
      .where((eb) => eb.or([eb.and([eb('id', '=', requestId), eb('type', '=', 'request')]), eb('request_id', '=', requestId)]))
      .execute();
  }

  /** Ids and owned files of a thread's entries. */
  async filesForThread(userId: string, threadId: string): Promise<{ id: string; files: string }[]> {
    return this.db.selectFrom('entries').select(['id', 'files']).where('thread_id', '=', threadId).where('user_id', '=', userId).execute();
  }

  /** A request or response entry of the thread, with its owned files; undefined when the user has none such. */
  async findInThread(userId: string, threadId: string, entryId: string): Promise<Pick<EntryRow, 'id' | 'type' | 'request_id'> | undefined> {
    return this.db
      .selectFrom('entries')
      .select(['id', 'type', 'request_id'])
      .where('id', '=', entryId)
      .where('thread_id', '=', threadId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
  }

  /** A request entry and its response (if any): ids and owned files. */
  async filesForRequest(userId: string, requestId: string): Promise<{ id: string; files: string }[]> {
    return this.db
      .selectFrom('entries')
      .select(['id', 'files'])
      .where('user_id', '=', userId)
      .where((eb) => eb.or([eb('id', '=', requestId), eb('request_id', '=', requestId)]))
      .execute();
  }

  /** Deletes a request entry and its response. */
  async deleteRequest(userId: string, requestId: string): Promise<void> {
    await this.db.deleteFrom('entries').where('user_id', '=', userId).where('request_id', '=', requestId).execute();
    await this.db.deleteFrom('entries').where('user_id', '=', userId).where('id', '=', requestId).execute();
  }

  async deleteForThread(userId: string, threadId: string): Promise<void> {
    await this.db.deleteFrom('entries').where('thread_id', '=', threadId).where('user_id', '=', userId).execute();
  }

  /** queued|running → running; false when the request is gone or already final. */
  async markRunning(userId: string, entryId: string, updatedAt: string): Promise<boolean> {
    const result = await this.db
      .updateTable('entries')
      .set({ status: 'running', updated_at: updatedAt })
      .where('id', '=', entryId)
      .where('user_id', '=', userId)
      .where('status', 'in', ['queued', 'running'])
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Progress of a running request (JSON text). */
  async setProgress(userId: string, entryId: string, progress: string): Promise<void> {
    await this.db.updateTable('entries').set({ progress }).where('id', '=', entryId).where('user_id', '=', userId).where('status', '=', 'running').execute();
  }

  /** The request's final state: it no longer waits for a response. */
  async settle(userId: string, entryId: string, change: { status: EntryStatus; updatedAt: string }): Promise<void> {
    await this.db
      .updateTable('entries')
      .set({ waiting_response: 0, status: change.status, progress: null, updated_at: change.updatedAt })
      .where('id', '=', entryId)
      .where('user_id', '=', userId)
      .execute();
  }
}
