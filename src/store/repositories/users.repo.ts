/** The `users` table: accounts and their spendable credit balance. */
import { sql, type Insertable, type Kysely, type Selectable } from 'kysely';
import type { Dialect } from '../dialect.ts';
import type { Database } from '../schema.ts';
import type { UsersTable } from '../tables/identity.ts';

export type UserRow = Selectable<UsersTable>;

export class UsersRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
  ) {}

  /**
   * Locks the user row until the transaction ends, so a count of the user's rows and the insert it allows happen as
   * one step and per-account limits hold under concurrency. PostgreSQL: FOR NO KEY UPDATE (foreign-key checks of
   * other inserts do not wait for it); SQLite serialises writers by itself.
   */
  async lock(userId: string): Promise<void> {
    if (this.dialect !== 'postgres') return;
    await this.db.selectFrom('users').select('id').where('id', '=', userId).forNoKeyUpdate().execute();
  }

  async insert(row: Insertable<UsersTable>): Promise<void> {
    await this.db.insertInto('users').values(row).execute();
  }

  async findById(userId: string): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirst();
  }

  /** `email` must already be normalized (lower-case, trimmed). */
  async findByEmail(email: string): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
  }

  async balance(userId: string): Promise<number | undefined> {
    const row = await this.db.selectFrom('users').select('credits').where('id', '=', userId).executeTakeFirst();
    return row && Number(row.credits);
  }

  /**
   * Adds `delta` (negative removes) in one conditional UPDATE, so concurrent changes can never overdraw:
   * with `floor`, only when the new balance stays at or above it. Returns the new balance, or undefined when
   * the user is missing or the floor would be crossed.
   */
  async changeBalance(userId: string, delta: number, options: { floor?: number } = {}): Promise<number | undefined> {
    let query = this.db.updateTable('users').set({ credits: sql<number>`credits + ${delta}` }).where('id', '=', userId);
    if (options.floor !== undefined) query = query.where('credits', '>=', options.floor - delta);
    const row = await query.returning('credits').executeTakeFirst();
    return row && Number(row.credits);
  }

  /** Changes the account's scheduling settings (only the fields given); false when the user is missing. */
  async setScheduling(userId: string, change: Partial<Pick<UserRow, 'priority' | 'max_running' | 'max_queued'>>): Promise<boolean> {
    if (Object.keys(change).length === 0) return (await this.findById(userId)) !== undefined;
    const result = await this.db.updateTable('users').set(change).where('id', '=', userId).executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }
}
