/** The `applications` table: a user's named groups of bearer tokens. Every method is scoped by user id. */
import type { Kysely, Selectable } from 'kysely';
import type { Database } from '../schema.ts';
import type { ApplicationsTable } from '../tables/identity.ts';

export type ApplicationRow = Selectable<ApplicationsTable>;

export class ApplicationsRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async list(userId: string): Promise<ApplicationRow[]> {
    return this.db.selectFrom('applications').selectAll().where('user_id', '=', userId).orderBy('created_at', 'asc').orderBy('id', 'asc').execute();
  }

  async count(userId: string): Promise<number> {
    const row = await this.db.selectFrom('applications').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', userId).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async find(userId: string, id: string): Promise<ApplicationRow | undefined> {
    return this.db.selectFrom('applications').selectAll().where('user_id', '=', userId).where('id', '=', id).executeTakeFirst();
  }

  async findByName(userId: string, name: string): Promise<ApplicationRow | undefined> {
    return this.db.selectFrom('applications').selectAll().where('user_id', '=', userId).where('name', '=', name).executeTakeFirst();
  }

  async insert(row: ApplicationRow): Promise<void> {
    await this.db.insertInto('applications').values(row).execute();
  }

  async rename(userId: string, id: string, change: { name: string; updatedAt: string }): Promise<void> {
    await this.db.updateTable('applications').set({ name: change.name, updated_at: change.updatedAt }).where('user_id', '=', userId).where('id', '=', id).execute();
  }

  async delete(userId: string, id: string): Promise<void> {
    await this.db.deleteFrom('applications').where('id', '=', id).where('user_id', '=', userId).execute();
  }
}
