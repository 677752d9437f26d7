/** The `images` table: one row per delivered image, for the account's gallery. Every method is scoped by user id. */
import { sql, type Kysely, type Selectable } from 'kysely';
import type { Database } from '../schema.ts';
import type { ImagesTable } from '../tables/generation.ts';

export type ImageRow = Selectable<ImagesTable>;
/** An image with the title of its thread, as the gallery lists it. */
export type GalleryRow = ImageRow & { thread_title: string };

export class ImagesRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insertMany(rows: ImageRow[]): Promise<void> {
    if (rows.length > 0) await this.db.insertInto('images').values(rows).execute();
  }

  /** Newest first; the images of one response in their order. */
  async list(userId: string, window: { limit: number; offset: number }): Promise<GalleryRow[]> {
    return this.db
      .selectFrom('images')
      .innerJoin('threads', 'threads.id', 'images.thread_id')
      .selectAll('images')
      .select('threads.title as thread_title')
      .where('images.user_id', '=', userId)
      .orderBy('images.created_at', 'desc')
      .orderBy('images.response_id', 'desc')
      .orderBy('images.position', 'asc')
      .limit(window.limit)
      .offset(window.offset)
      .execute();
  }

  /**
   * The url of the user's image whose url ends with `ending` (e.g. `/storage/<key>`), if any: how a request that
   * names an image by url or guid finds it among its own (urls keep the public base they were made with).
   */
  async findUrlEnding(userId: string, ending: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('images')
      .select('url')
      .where('user_id', '=', userId)
      .where(sql<string>`substr(url, length(url) - ${ending.length - 1})`, '=', ending)
      .limit(1)
      .executeTakeFirst();
    return row?.url;
  }

  async count(userId: string): Promise<number> {
    const row = await this.db.selectFrom('images').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', userId).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async deleteForThread(userId: string, threadId: string): Promise<void> {
    await this.db.deleteFrom('images').where('thread_id', '=', threadId).where('user_id', '=', userId).execute();
  }

  async deleteForRequest(userId: string, requestId: string): Promise<void> {
    await this.db.deleteFrom('images').where('request_id', '=', requestId).where('user_id', '=', userId).execute();
  }
}
