/**
 * Prometheus metrics (prom-client), one registry per runtime (tests build many in one process). Two kinds:
 *
 * - observed in this process: HTTP request durations by route pattern and status (the API's onResponse hook),
 *   webhook delivery attempts by outcome (counted by the process that made the attempt: sum across processes);
 * - read from the database on scrape, so they describe the whole fleet whichever API process is scraped: jobs
 *   pending/running, queue depth and the age of the oldest pending job per engine, and histograms of job duration
 *   and queue wait fed from the jobs that finished since the previous scrape. The reads are cached for
 *   `refreshMinMs` (≥ 1 s), so frequent scrapes do not add database load.
 *
 * Every API process reports the same database-derived figures: aggregate them with max() (gauges) or scrape one
 * instance for the job histograms, or they are counted once per process (README, "Operations").
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { systemClock, type Clock } from '../../domain/clock.ts';
import type { DataStore } from '../../store/database.ts';

export const WEBHOOK_OUTCOMES = ['delivered', 'retried', 'failed'] as const;
export type WebhookOutcome = (typeof WEBHOOK_OUTCOMES)[number];

/** The label of jobs that name no engine. */
const NO_ENGINE = 'none';
const JOB_SECONDS_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800];
const HTTP_SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface LiveWorkers {
  engine: string;
  count: number;
}

export interface MetricsDeps {
  store: DataStore;
  /** The engine ids served, so queue depth and age are reported (as 0) for idle engines too. */
  engineIds: () => readonly string[];
  /**
   * Live workers per engine. There is no worker registry yet: the fleet work (issue #8, a `workers` heartbeat
   * table) supplies this; until then the gauge has no series.
   */
  liveWorkersByEngine?: () => Promise<readonly LiveWorkers[]>;
  clock?: Clock;
  /** Database-derived figures are re-read at most this often (default 1000 ms; less is raised to 1000). */
  refreshMinMs?: number;
  /** Jobs finished less than this long ago are left for the next scrape, so a commit in flight is not skipped. */
  settleMs?: number;
  /** Node process metrics (CPU, memory, event-loop delay, GC); default true. */
  processMetrics?: boolean;
}

export class ServiceMetrics {
  readonly registry = new Registry();
  readonly webhookDeliveries: Counter<'outcome'>;
  readonly #httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  readonly #httpChildren = new Map<string, Histogram.Internal<'method' | 'route' | 'status_code'>>();
  readonly #jobs: Gauge<'kind' | 'engine' | 'status'>;
  readonly #queueDepth: Gauge<'engine'>;
  readonly #oldestPending: Gauge<'engine'>;
  readonly #workers: Gauge<'engine'>;
  readonly #finished: Counter<'kind' | 'engine' | 'status'>;
  readonly #duration: Histogram<'kind' | 'engine' | 'status'>;
  readonly #wait: Histogram<'kind' | 'engine'>;
  readonly #refreshFailures: Counter;
  readonly #clock: Clock;
  readonly #refreshMinMs: number;
  readonly #settleMs: number;
  #refreshedAt = -Infinity;
  #refreshing: Promise<void> | undefined;
  /** Jobs finished at or before this instant have been observed. */
  #watermark: string;

  constructor(private readonly deps: MetricsDeps) {
    this.#clock = deps.clock ?? systemClock;
    this.#refreshMinMs = Math.max(1000, deps.refreshMinMs ?? 1000);
    this.#settleMs = deps.settleMs ?? 5000;
    // Only jobs finishing from now on: a restart does not replay history into the histograms.
    this.#watermark = new Date(this.#clock().getTime() - this.#settleMs).toISOString();
    const registers = [this.registry];
    if (deps.processMetrics !== false) collectDefaultMetrics({ register: this.registry });

    this.#httpDuration = new Histogram({
      name: 'sdapi_http_request_duration_seconds',
      help: 'HTTP requests by method, route pattern (never the raw URL; "unmatched" for 404s) and status code',
      labelNames: ['method', 'route', 'status_code'],
      buckets: HTTP_SECONDS_BUCKETS,
      registers,
    });
    this.webhookDeliveries = new Counter({
      name: 'sdapi_webhook_deliveries_total',
      help: `Webhook delivery attempts by outcome (${WEBHOOK_OUTCOMES.join(', ')}: a 2xx, a failure to be retried, a failure given up) in this process`,
      labelNames: ['outcome'],
      registers,
    });
    for (const outcome of WEBHOOK_OUTCOMES) this.webhookDeliveries.labels({ outcome }).inc(0);
    this.#jobs = new Gauge({ name: 'sdapi_jobs', help: 'Jobs pending or running, by kind, engine and status', labelNames: ['kind', 'engine', 'status'], registers });
    this.#queueDepth = new Gauge({ name: 'sdapi_queue_depth', help: 'Pending jobs per engine (scale workers on this)', labelNames: ['engine'], registers });
    this.#oldestPending = new Gauge({
      name: 'sdapi_queue_oldest_pending_age_seconds',
      help: 'Age of the oldest pending job per engine (0 when none is pending)',
      labelNames: ['engine'],
      registers,
    });
    this.#workers = new Gauge({ name: 'sdapi_workers_live', help: 'Live generation workers per engine', labelNames: ['engine'], registers });
    this.#finished = new Counter({
      name: 'sdapi_jobs_finished_total',
      help: 'Jobs that reached done, failed or cancelled (counted from the database since this process started)',
      labelNames: ['kind', 'engine', 'status'],
      registers,
    });
    this.#duration = new Histogram({
      name: 'sdapi_job_duration_seconds',
      help: 'Job run time, last start to finish, by kind, engine and final status',
      labelNames: ['kind', 'engine', 'status'],
      buckets: JOB_SECONDS_BUCKETS,
      registers,
    });
    this.#wait = new Histogram({
      name: 'sdapi_job_queue_wait_seconds',
      help: 'Time from enqueue to the (last) start of finished jobs, by kind and engine',
      labelNames: ['kind', 'engine'],
      buckets: JOB_SECONDS_BUCKETS,
      registers,
    });
    this.#refreshFailures = new Counter({ name: 'sdapi_metrics_refresh_failures_total', help: 'Scrapes whose database-derived figures could not be read (the last ones were served)', registers });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** One HTTP response (the API's onResponse hook). Label children are cached: this runs on every request. */
  observeHttp(method: string, route: string, statusCode: number, seconds: number): void {
    const key = `${method} ${statusCode} ${route}`;
    let child = this.#httpChildren.get(key);
    if (!child) {
      child = this.#httpDuration.labels({ method, route, status_code: String(statusCode) });
      this.#httpChildren.set(key, child);
    }
    child.observe(seconds);
  }

  recordWebhookDelivery(outcome: WebhookOutcome): void {
    this.webhookDeliveries.labels({ outcome }).inc();
  }

  /**
   * The Prometheus text exposition, database-derived figures refreshed first (at most once per refreshMinMs). When the
   * database does not answer, the other metrics are still served (with the last database figures) and
   * `sdapi_metrics_refresh_failures_total` grows; `onRefreshError` hears why.
   */
  async scrape(onRefreshError?: (err: unknown) => void): Promise<string> {
    try {
      await this.refresh();
    } catch (err) {
      this.#refreshFailures.inc();
      onRefreshError?.(err);
    }
    return this.registry.metrics();
  }

  /** Re-reads the database-derived figures unless they are fresher than refreshMinMs; concurrent calls share one read. */
  refresh(): Promise<void> {
    const now = this.#clock().getTime();
    if (this.#refreshing) return this.#refreshing;
    if (now - this.#refreshedAt < this.#refreshMinMs) return Promise.resolve();
    this.#refreshing = this.#read(now).finally(() => {
      this.#refreshedAt = now;
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async #read(now: number): Promise<void> {
    const { ops } = this.deps.store.repos;
    const [activity, workers] = await Promise.all([ops.jobActivity(), this.deps.liveWorkersByEngine?.() ?? Promise.resolve([])]);

    this.#jobs.reset();
    const depth = new Map<string, number>();
    const oldest = new Map<string, number>();
    for (const engine of this.deps.engineIds()) {
      depth.set(engine, 0);
      oldest.set(engine, 0);
    }
    for (const a of activity) {
      const engine = a.engine ?? NO_ENGINE;
      this.#jobs.labels({ kind: a.kind, engine, status: a.status }).set(a.count);
      if (a.status !== 'pending') continue;
      depth.set(engine, (depth.get(engine) ?? 0) + a.count);
      const age = Math.max(0, (now - Date.parse(a.oldestCreatedAt)) / 1000);
      oldest.set(engine, Math.max(oldest.get(engine) ?? 0, age));
    }
    this.#queueDepth.reset();
    this.#oldestPending.reset();
    for (const [engine, n] of depth) this.#queueDepth.labels({ engine }).set(n);
    for (const [engine, age] of oldest) this.#oldestPending.labels({ engine }).set(age);
    this.#workers.reset();
    for (const w of workers) this.#workers.labels({ engine: w.engine }).set(w.count);

    await this.#observeFinished(now);
  }

  async #observeFinished(now: number): Promise<void> {
    const limit = 10_000;
    const until = new Date(now - this.#settleMs).toISOString();
    if (until <= this.#watermark) return;
    const jobs = await this.deps.store.repos.ops.jobsFinished({ after: this.#watermark, until, limit });
    for (const job of jobs) {
      const labels = { kind: job.kind, engine: job.engine ?? NO_ENGINE };
      this.#finished.labels({ ...labels, status: job.status }).inc();
      if (job.startedAt === null) continue; // cancelled before it started: it neither waited to start nor ran
      const started = Date.parse(job.startedAt);
      this.#duration.labels({ ...labels, status: job.status }).observe(Math.max(0, (Date.parse(job.finishedAt) - started) / 1000));
      this.#wait.labels(labels).observe(Math.max(0, (started - Date.parse(job.createdAt)) / 1000));
    }
    // A full page may have more jobs at its last instant: continue from there next time, else from `until`.
    this.#watermark = jobs.length === limit ? jobs[jobs.length - 1].finishedAt : until;
  }
}
