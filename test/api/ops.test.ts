/**
 * Operations routes: /healthz, /readyz (store and Redis checks, 503 naming only the failed dependency), /metrics
 * (Prometheus text; SDAPI_METRICS_TOKEN; route patterns, never raw URLs; job figures read from the database on
 * scrape, with an injected clock), and a Redis URL that does not answer: an error in the log at start, /readyz 503,
 * and the API still serving (the rate limiter falls back to memory).
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { checkRedisAtStart } from '../../src/composition/startup-checks.ts';
import { startWorkerProcess } from '../../src/composition/worker-process.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { steppingClock, type TestClock } from '../helpers/clock.ts';
import { bearerRequest, buildHarness, stubGenerator, TEST_LIMITS, type Harness } from '../web/helpers.ts';

const ENTRY = { engine: 'stable-diffusion-v1-6', resolution: '512x512', prompts: [{ text: 'a red bicycle', weight: 1 }], images: 1, steps: 10 };

/** The value of one sample line of a Prometheus text exposition (undefined when absent). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

function logCapture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

describe('health, readiness and metrics', () => {
  let h: Harness;
  let clock: TestClock;
  let token: string;
  const start = Date.parse('2031-03-01T12:00:00.000Z');
  before(async () => {
    clock = steppingClock(start, 0);
    h = await buildHarness({}, { clock });
    const user = await h.services.users.create('ops@example.com', 'a-long-password');
    await h.services.credits.grant(user.id, 1000, 'test');
    const app = await h.services.applications.create(user.id, 'ops');
    token = (await h.services.applications.createToken(user.id, app.id)).token;
  });
  after(() => h.close());

  const scrape = async () => {
    const res = await h.app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(res.statusCode, 200, res.body);
    return res;
  };

  it('/healthz answers 200 and /readyz 200 with the store check', async () => {
    const health = await h.app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(health.statusCode, 200);
    assert.deepEqual(health.json(), { status: 'ok' });
    const ready = await h.app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(ready.statusCode, 200);
    assert.deepEqual(ready.json(), { status: 'ready', checks: { store: 'ok' } });
    assert.equal(ready.headers['cache-control'], 'no-store');
  });

  it('/readyz answers 503 naming the failed store, and nothing of the error itself', async () => {
    const ops = h.store.repos.ops;
    const ping = ops.ping;
    ops.ping = async () => {
      throw new Error('SQLITE_CANTOPEN: unable to open /var/lib/secret/sdapi.db');
    };
    try {
      const res = await h.app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(res.statusCode, 503);
      assert.deepEqual(res.json(), { status: 'unavailable', checks: { store: 'failed' } });
      assert.doesNotMatch(res.body, /SQLITE|secret|sdapi\.db/);
    } finally {
      ops.ping = ping;
    }
  });

  it('/metrics serves Prometheus text: HTTP durations by route pattern and status, never a raw URL', async () => {
    const thread = (await bearerRequest(h.app, 'POST', '/api/v1/threads', token, { ai_version_code: 'stablediffusion_text2img' })).json().data.guid as string;
    await bearerRequest(h.app, 'GET', `/api/v1/threads/${thread}/entries`, token);
    await bearerRequest(h.app, 'GET', '/api/v1/threads/00000000-0000-4000-8000-000000000000/entries', token);
    await h.app.inject({ method: 'GET', url: '/no/such/page?secret=1' });
    const res = await scrape();
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const text = res.body;
    assert.equal(sample(text, 'sdapi_http_request_duration_seconds_count', { route: '/api/v1/threads/:guid/entries', status_code: '200' }), 1);
    assert.equal(sample(text, 'sdapi_http_request_duration_seconds_count', { route: '/api/v1/threads/:guid/entries', status_code: '404' }), 1);
    assert.equal(sample(text, 'sdapi_http_request_duration_seconds_count', { route: 'unmatched', status_code: '404' }), 1);
    assert.ok(!text.includes(thread) && !text.includes('secret'), 'no raw URL in any label');
    for (const name of ['sdapi_jobs', 'sdapi_queue_depth', 'sdapi_queue_oldest_pending_age_seconds', 'sdapi_job_duration_seconds', 'sdapi_job_queue_wait_seconds', 'sdapi_jobs_finished_total', 'sdapi_workers_live', 'sdapi_webhook_deliveries_total', 'process_cpu_seconds_total', 'nodejs_eventloop_lag_p99_seconds']) {
      assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
    }
    for (const outcome of ['delivered', 'retried', 'failed']) assert.equal(sample(text, 'sdapi_webhook_deliveries_total', { outcome }), 0);
  });

  it('job figures come from the database on scrape: queue depth and oldest age per engine, then duration and wait once finished', async () => {
    const thread = (await bearerRequest(h.app, 'POST', '/api/v1/threads', token, { ai_version_code: 'stablediffusion_text2img' })).json().data.guid as string;
    clock.advance(10_000);
    const posted = await bearerRequest(h.app, 'POST', `/api/v1/threads/${thread}/entry`, token, ENTRY);
    assert.equal(posted.statusCode, 201, posted.body);
    const queuedAt = clock().getTime();

    clock.advance(30_000);
    let text = (await scrape()).body;
    const engine = { engine: 'stable-diffusion-v1-6' };
    assert.equal(sample(text, 'sdapi_queue_depth', engine), 1);
    assert.equal(sample(text, 'sdapi_queue_oldest_pending_age_seconds', engine), 30);
    assert.equal(sample(text, 'sdapi_jobs', { kind: 'generate', ...engine, status: 'pending' }), 1);
    assert.equal(sample(text, 'sdapi_queue_depth', { engine: 'stable-diffusion-xl-1024-v1-0' }), 0, 'idle engines report 0');

    // The job runs 40 s after it was queued and takes 60 s (what a worker writes, written directly).
    const job = await h.store.db.selectFrom('jobs').select('id').where('status', '=', 'pending').executeTakeFirstOrThrow();
    await h.store.db
      .updateTable('jobs')
      .set({ status: 'done', started_at: new Date(queuedAt + 40_000).toISOString(), finished_at: new Date(queuedAt + 100_000).toISOString() })
      .where('id', '=', job.id)
      .execute();
    text = (await scrape()).body;
    assert.equal(sample(text, 'sdapi_queue_depth', engine), 1, 'cached: the figures are re-read at most once a second');

    clock.advance(80_000); // past the finish and the 5 s settle delay
    text = (await scrape()).body;
    assert.equal(sample(text, 'sdapi_queue_depth', engine), 0);
    assert.equal(sample(text, 'sdapi_jobs', { kind: 'generate', ...engine, status: 'pending' }), undefined);
    assert.equal(sample(text, 'sdapi_jobs_finished_total', { kind: 'generate', ...engine, status: 'done' }), 1);
    assert.equal(sample(text, 'sdapi_job_duration_seconds_count', { kind: 'generate', ...engine, status: 'done' }), 1);
    assert.equal(sample(text, 'sdapi_job_duration_seconds_sum', { kind: 'generate', ...engine, status: 'done' }), 60);
    assert.equal(sample(text, 'sdapi_job_queue_wait_seconds_sum', { kind: 'generate', ...engine }), 40);
    clock.advance(60_000);
    text = (await scrape()).body;
    assert.equal(sample(text, 'sdapi_job_duration_seconds_count', { kind: 'generate', ...engine, status: 'done' }), 1, 'each job is observed once');
  });
});

describe('/metrics when the database does not answer', () => {
  it('still serves the process and HTTP metrics, and counts the failed refresh', async () => {
    const h = await buildHarness();
    try {
      const ops = h.store.repos.ops;
      ops.jobActivity = async () => {
        throw new Error('connection terminated');
      };
      const res = await h.app.inject({ method: 'GET', url: '/metrics' });
      assert.equal(res.statusCode, 200);
      assert.equal(sample(res.body, 'sdapi_metrics_refresh_failures_total'), 1);
      assert.match(res.body, /^process_cpu_seconds_total /m);
    } finally {
      await h.close();
    }
  });
});

describe('/metrics with SDAPI_METRICS_TOKEN', () => {
  it('answers 401 without the bearer token or with a wrong one, 200 with it', async () => {
    const h = await buildHarness({ SDAPI_METRICS_TOKEN: 'metrics-token-0123456789' });
    try {
      const none = await h.app.inject({ method: 'GET', url: '/metrics' });
      assert.equal(none.statusCode, 401);
      assert.match(String(none.headers['www-authenticate']), /^Bearer/);
      assert.doesNotMatch(none.body, /sdapi_/);
      const wrong = await h.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer metrics-token-0123456780' } });
      assert.equal(wrong.statusCode, 401);
      const right = await h.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer metrics-token-0123456789' } });
      assert.equal(right.statusCode, 200);
      assert.match(right.body, /^# HELP sdapi_/m);
    } finally {
      await h.close();
    }
  });

  it('refuses a token shorter than 16 characters at start', () => {
    assert.throws(() => loadConfig({ SDAPI_METRICS_TOKEN: 'short' }), /SDAPI_METRICS_TOKEN must be at least 16 printable characters/);
  });
});

describe('a Redis URL that does not answer', () => {
  // Nothing listens on port 1 of the loopback address: connections are refused at once.
  const env = { SDAPI_QUEUE_URL: 'redis://:hunter2@127.0.0.1:1', SDAPI_RATE_LIMIT: '5/60s' };

  it('is logged at start, makes /readyz 503 with redis failed, and the API keeps serving with its limits', async () => {
    const h = await buildHarness(env);
    try {
      const { logger, lines } = logCapture();
      assert.equal(await checkRedisAtStart(h.runtime, logger, 1500), false);
      const error = lines.find((l) => l.level === 50);
      assert.ok(error, JSON.stringify(lines));
      assert.match(String(error.msg), /Redis \(SDAPI_QUEUE_URL\) does not answer: workers fall back to polling/);
      assert.equal(error.redis, 'redis://:***@127.0.0.1:1', 'the password is not logged');

      const ready = await h.app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(ready.statusCode, 503);
      assert.deepEqual(ready.json(), { status: 'unavailable', checks: { store: 'ok', redis: 'failed' } });

      const answers = [];
      for (let i = 0; i < 6; i++) answers.push(await h.app.inject({ method: 'GET', url: '/api/v1/auth/session', remoteAddress: '10.30.0.1' }));
      assert.deepEqual(answers.map((r) => r.statusCode), [200, 200, 200, 200, 200, 429], 'the in-memory stand-in keeps the quota');
      assert.match(String(answers[0].headers.ratelimit), /^"default";r=4;t=\d+$/);
    } finally {
      await h.close();
    }
  });

  it('is logged at the start of `sdapi worker` too', async () => {
    const { logger, lines } = logCapture();
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dataDir = mkdtempSync(join(tmpdir(), 'sdapi-worker-redis-'));
    try {
      const config = loadConfig({ SDAPI_DATA_DIR: dataDir, SDAPI_PUBLIC_URL: 'http://sdapi.test', ...TEST_LIMITS, ...env });
      const running = await startWorkerProcess(config, { concurrency: 1, logger, overrides: { generator: stubGenerator } });
      await running.close();
      assert.ok(lines.some((l) => l.level === 50 && /Redis \(SDAPI_QUEUE_URL\) does not answer/.test(String(l.msg))), JSON.stringify(lines));
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
