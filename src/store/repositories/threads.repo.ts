/** The `threads` table: per-user conversations. Every method is scoped by user id, except the row lock. */
import { sql, type Kysely, type Selectable } from 'kysely';
import type { Dialect } from '../dialect.ts';
import { prepareQuery, type DirectSqlite, type PreparedQuery } from '../prepared-query.ts';
import type { Database } from '../schema.ts';
import type { ThreadsTable } from '../tables/generation.ts';

export type ThreadRow = Selectable<ThreadsTable>;

export class ThreadsRepository {
  #version: PreparedQuery<[string, string], { version: number }> | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
    private readonly direct?: DirectSqlite,
  ) {}

  async insert(row: ThreadRow): Promise<void> {
    await this.db.insertInto('threads').values(row).execute();
  }

  async find(userId: string, threadId: string): Promise<ThreadRow | undefined> {
    return this.db.selectFrom('threads').selectAll().where('id', '=', threadId).where('user_id', '=', userId).executeTakeFirst();
  }

  /** Newest first. */
  async list(userId: string, window: { limit: number; offset: number }): Promise<ThreadRow[]> {
    return this.db
      .selectFrom('threads')
      .selectAll()
      .where('user_id', '=', userId)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(window.limit)
      .offset(window.offset)
      .execute();
  }

  async count(userId: string): Promise<number> {
    const row = await this.db.selectFrom('threads').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', userId).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /**
   * Locks the thread row until the transaction ends (PostgreSQL; SQLite serialises writers by itself). Lock order
   * of every writer: thread → job → user, so a new request, a finishing job and a deletion never deadlock.
   */
  async lock(threadId: string): Promise<void> {
    if (this.dialect !== 'postgres') return;
    await this.db.selectFrom('threads').select('id').where('id', '=', threadId).forUpdate().execute();
  }

  /**
   * Records that the thread's entries changed: the version grows by one (and `updatedAt`, when given, becomes the
   * thread's last activity). Call it after the entry change, in the same transaction or after it committed, so a
   * reader that sees the new version also sees the change.
   */
  async entriesChanged(userId: string, threadId: string, change: { updatedAt?: string } = {}): Promise<void> {
    await this.db
      .updateTable('threads')
      .set({ version: sql<number>`version + 1`, ...(change.updatedAt ? { updated_at: change.updatedAt } : {}) })
      .where('id', '=', threadId)
      .where('user_id', '=', userId)
      .execute();
  }

  /**
   * The version of the thread's entries, or undefined when the user has no such thread. The polling path: one
   * prepared read, direct on SQLite (a version is only compared with a cached one, never cached itself).
   */
  async entriesVersion(userId: string, threadId: string): Promise<number | undefined> {
    this.#version ??= prepareQuery(this.db, 2, (thread: string, user: string) => this.db.selectFrom('threads').select('version').where('id', '=', thread).where('user_id', '=', user), {
      direct: this.direct,
    });
    const [row] = await this.#version(threadId, userId);
    return row && Number(row.version);
  }

  async setTitle(userId: string, threadId: string, change: { title: string; updatedAt: string }): Promise<void> {
    await this.db.updateTable('threads').set({ title: change.title, updated_at: change.updatedAt }).where('id', '=', threadId).where('user_id', '=', userId).execute();
  }

  async delete(userId: string, threadId: string): Promise<void> {
    await this.db.deleteFrom('threads').where('id', '=', threadId).where('user_id', '=', userId).execute();
  }
}
