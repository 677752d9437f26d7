/** The `input_images` table: the service's copies of request input images. Every read is scoped by user id. */
import type { Kysely, Selectable } from 'kysely';
import type { Database } from '../schema.ts';
import type { InputImagesTable } from '../tables/generation.ts';

export type InputImageRow = Selectable<InputImagesTable>;

export class InputImagesRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insertMany(rows: InputImageRow[]): Promise<void> {
    if (rows.length > 0) await this.db.insertInto('input_images').values(rows).execute();
  }

  async find(userId: string, id: string): Promise<InputImageRow | undefined> {
    return this.db.selectFrom('input_images').selectAll().where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
  }
}
