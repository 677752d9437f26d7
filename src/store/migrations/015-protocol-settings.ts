import type { Kysely } from 'kysely';

/**
 * `protocol_settings`: an account's settings on a compatibility surface, as the surface's own clients set them
 * (AUTOMATIC1111's `POST /sdapi/v1/options` {"sd_model_checkpoint": …}: the model the account's next txt2img uses).
 * One row per account, protocol and setting name; the value is JSON. Deleted with the account.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('protocol_settings')
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('protocol', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('protocol_settings_pk', ['user_id', 'protocol', 'name'])
    .execute();
}
