/** The `threads` table: per-user conversations. Every method is scoped by user id, except the row lock. */
import type { Kysely, Selectable } from 'kysely';
import type { Dialect } from '../dialect.ts';
import type { Database } from '../schema.ts';
import type { ThreadsTable } from '../tables/generation.ts';

export type ThreadRow = Selectable<ThreadsTable>;

export class ThreadsRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
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

  async touch(userId: string, threadId: string, updatedAt: string): Promise<void> {
    await this.db.updateTable('threads').set({ updated_at: updatedAt }).where('id', '=', threadId).where('user_id', '=', userId).execute();
  }

  async delete(userId: string, threadId: string): Promise<void> {
    await this.db.deleteFrom('threads').where('id', '=', threadId).where('user_id', '=', userId).execute();
  }
}
