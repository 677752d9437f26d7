import type { Kysely } from 'kysely';

type BackfillTables = {
  entries: { id: string; thread_id: string; user_id: string; type: string; request_id: string | null; content: string; status: string; created_at: string };
  images: ImageRowShape;
};

type ImageRowShape = {
  id: string;
  user_id: string;
  thread_id: string;
  request_id: string;
  response_id: string;
  position: number;
  url: string;
  thumbnail_url: string;
  dimensions: string;
  filesize: number;
  seed: number;
  prompt: string;
  created_at: string;
};

/**
 * One row per delivered image, so the account's gallery (GET /images) pages through images, newest first, with one
 * indexed query instead of unpacking every response entry. Rows go with their entries (and thread, and account).
 * Existing responses are backfilled from their `content`.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('images')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('thread_id', 'text', (c) => c.notNull().references('threads.id').onDelete('cascade'))
    .addColumn('request_id', 'text', (c) => c.notNull().references('entries.id').onDelete('cascade'))
    .addColumn('response_id', 'text', (c) => c.notNull().references('entries.id').onDelete('cascade'))
    .addColumn('position', 'integer', (c) => c.notNull())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('thumbnail_url', 'text', (c) => c.notNull())
    .addColumn('dimensions', 'text', (c) => c.notNull())
    .addColumn('filesize', 'bigint', (c) => c.notNull())
    .addColumn('seed', 'bigint', (c) => c.notNull())
    .addColumn('prompt', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('images_user_created_idx').on('images').columns(['user_id', 'created_at']).execute();
  await db.schema.createIndex('images_request_idx').on('images').columns(['request_id']).execute();

  const typed = db.withTables<BackfillTables>();
  const responses = await typed.selectFrom('entries').select(['id', 'thread_id', 'user_id', 'request_id', 'content', 'created_at']).where('type', '=', 'response').where('status', '=', 'done').execute();
  for (const response of responses) {
    if (!response.request_id) continue;
    const request = await typed.selectFrom('entries').select('content').where('id', '=', response.request_id).executeTakeFirst();
    if (!request) continue;
    const rows = imageRows({ ...response, request_id: response.request_id }, request.content);
    if (rows.length > 0) await typed.insertInto('images').values(rows).execute();
  }
}

/** The rows of one stored response (its `content` JSON) and its request's prompt; malformed items are skipped. */
function imageRows(response: { id: string; thread_id: string; user_id: string; request_id: string; content: string; created_at: string }, requestContent: string): ImageRowShape[] {
  const items: unknown = JSON.parse(response.content);
  const request: unknown = JSON.parse(requestContent);
  const prompts = typeof request === 'object' && request !== null ? Reflect.get(request, 'prompts') : undefined;
  const prompt = Array.isArray(prompts)
    ? prompts
        .filter((p: unknown) => typeof p === 'object' && p !== null && Number(Reflect.get(p, 'weight')) > 0)
        .map((p: object) => String(Reflect.get(p, 'text')))
        .join(', ')
    : '';
  if (!Array.isArray(items)) return [];
  return items.flatMap((item: unknown, position) => {
    if (typeof item !== 'object' || item === null) return [];
    const get = (key: string) => Reflect.get(item, key);
    if (typeof get('url') !== 'string') return [];
    return [
      {
        id: `${response.id}:${position}`,
        user_id: response.user_id,
        thread_id: response.thread_id,
        request_id: response.request_id,
        response_id: response.id,
        position,
        url: String(get('url')),
        thumbnail_url: String(get('thumbnail_url') ?? ''),
        dimensions: String(get('dimensions') ?? ''),
        filesize: Number(get('filesize') ?? 0),
        seed: Number(get('seed') ?? 0),
        prompt: prompt.slice(0, 2000),
        created_at: response.created_at,
      },
    ];
  });
}
