import { sql, type Kysely } from 'kysely';

/**
 * Routing jobs to the workers that serve their engine: `jobs.engine` (the canonical engine id; null for job kinds
 * that need no model) with an index that serves the claim (pending jobs of some engines, oldest first) and the
 * per-engine queue counts; and `workers`, one heartbeat row per running worker (what it serves, on which device).
 * Jobs queued before this migration get their engine from their payload, so routed workers can claim them.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('jobs').addColumn('engine', 'text').execute();
  await db.schema.createIndex('jobs_status_engine_created_idx').on('jobs').columns(['status', 'engine', 'created_at']).execute();

  // The few unfinished jobs of an upgraded install: read each payload here rather than with dialect-specific JSON SQL.
  const unfinished = await sql<{ id: string; payload: string }>`SELECT id, payload FROM jobs WHERE kind = 'generate' AND status IN ('pending', 'running')`.execute(db);
  for (const row of unfinished.rows) {
    const engine = engineOf(row.payload);
    if (engine !== undefined) await sql`UPDATE jobs SET engine = ${engine} WHERE id = ${row.id}`.execute(db);
  }

  await db.schema
    .createTable('workers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('host', 'text', (c) => c.notNull())
    .addColumn('pid', 'integer', (c) => c.notNull())
    .addColumn('engines', 'text', (c) => c.notNull())
    .addColumn('concurrency', 'integer', (c) => c.notNull())
    .addColumn('started_at', 'text', (c) => c.notNull())
    .addColumn('last_seen', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('workers_last_seen_idx').on('workers').column('last_seen').execute();
}

function engineOf(payload: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(payload);
    const request: unknown = typeof parsed === 'object' && parsed !== null ? Reflect.get(parsed, 'request') : undefined;
    const engine: unknown = typeof request === 'object' && request !== null ? Reflect.get(request, 'engine') : undefined;
    return typeof engine === 'string' ? engine : undefined;
  } catch {
    return undefined;
  }
}
