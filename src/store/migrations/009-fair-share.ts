import { sql, type Kysely } from 'kysely';

/**
 * Fair scheduling between accounts (issue #10):
 * - `users.priority` ('high' | 'normal' | 'low': weights 4, 2, 1), `users.max_running` and `users.max_queued`
 *   (per-account caps, set with `sdapi users set`);
 * - `jobs.cost` (the work a job stands for: its credits, at least 1) and `jobs.vstart` (the virtual start time the
 *   scheduler gave it when claimed; the last one claimed is the scheduler's virtual clock);
 * - `fair_share`: one row per account that has queued work, holding its virtual time (the virtual finish time of its
 *   last started job). It is apart from `users`, so a claim that locks it never waits on a request's credit reservation.
 * - indexes for the claim: each waiting account's oldest pending job, its running count, and the latest start.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('users').addColumn('priority', 'text', (c) => c.notNull().defaultTo('normal')).execute();
  await db.schema.alterTable('users').addColumn('max_running', 'integer', (c) => c.notNull().defaultTo(2)).execute();
  await db.schema.alterTable('users').addColumn('max_queued', 'integer', (c) => c.notNull().defaultTo(20)).execute();

  await db.schema.alterTable('jobs').addColumn('cost', 'double precision', (c) => c.notNull().defaultTo(1)).execute();
  await db.schema.alterTable('jobs').addColumn('vstart', 'double precision').execute();

  await db.schema
    .createTable('fair_share')
    .addColumn('user_id', 'text', (c) => c.primaryKey())
    .addColumn('vtime', 'double precision', (c) => c.notNull().defaultTo(0))
    .execute();
  // Accounts with unfinished jobs from before this migration: the claim only considers accounts with a row.
  await sql`INSERT INTO fair_share (user_id, vtime) SELECT DISTINCT user_id, 0 FROM jobs WHERE user_id IS NOT NULL AND status IN ('pending', 'running')`.execute(db);

  await db.schema.createIndex('jobs_status_user_created_idx').on('jobs').columns(['status', 'user_id', 'created_at']).execute();
  await db.schema.createIndex('jobs_started_idx').on('jobs').columns(['started_at', 'vstart']).execute();
}
