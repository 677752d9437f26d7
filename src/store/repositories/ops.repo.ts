/**
 * Reads for operations: the readiness ping and the job figures the metrics report. Every query is an index range
 * (pending/running jobs by status, finished jobs by finished_at), cheap enough to run on each scrape.
 */
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Dialect } from '../dialect.ts';
import type { Database } from '../schema.ts';
import type { JobStatus } from '../tables/generation.ts';

/** Pending or running jobs of one (kind, engine, status). */
export interface JobActivity {
  kind: string;
  /** null for jobs that name no engine. */
  engine: string | null;
  status: Extract<JobStatus, 'pending' | 'running'>;
  count: number;
  /** created_at of the oldest of them. */
  oldestCreatedAt: string;
}

export interface FinishedJob {
  kind: string;
  engine: string | null;
  status: JobStatus;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string;
}

export class OpsRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
  ) {}

  /** Resolves when the database answers a trivial query. */
  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }

  /** Pending and running jobs, counted per (kind, engine, status), with the oldest's creation time. */
  async jobActivity(): Promise<JobActivity[]> {
    const rows = await this.db
      .selectFrom('jobs')
      .select((eb) => ['kind', 'engine', 'status', eb.fn.countAll<number>().as('n'), eb.fn.min('created_at').as('oldest')])
      .where('status', 'in', ['pending', 'running'])
      .groupBy(['kind', 'engine', 'status'])
      .execute();
    return rows.map((r) => ({
      kind: r.kind,
      engine: r.engine,
      status: r.status as JobActivity['status'],
      count: Number(r.n),
      oldestCreatedAt: String(r.oldest),
    }));
  }

  /** Jobs that finished in (after, until], oldest first, at most `limit`. */
  async jobsFinished(window: { after: string; until: string; limit: number }): Promise<FinishedJob[]> {
    const rows = await this.db
      .selectFrom('jobs')
      .select(['kind', 'engine', 'status', 'created_at', 'started_at', 'finished_at'])
      .where('finished_at', '>', window.after)
      .where('finished_at', '<=', window.until)
      .orderBy('finished_at')
      .limit(window.limit)
      .execute();
    return rows.map((r) => ({ kind: r.kind, engine: r.engine, status: r.status, createdAt: r.created_at, startedAt: r.started_at, finishedAt: String(r.finished_at) }));
  }
}
