import type { Kysely } from 'kysely';

/**
 * `input_images`: the service's copy of each image a request started from (init_image, mask_image), one row per
 * file, so a later request may name it by url or guid: storage keys carry no owner, this table records it. Rows go
 * with their request entry (and thread, and account); the files are in the request entry's `files`.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('input_images')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('request_id', 'text', (c) => c.notNull().references('entries.id').onDelete('cascade'))
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('width', 'integer', (c) => c.notNull())
    .addColumn('height', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('input_images_request_idx').on('input_images').column('request_id').execute();
}
