/**
 * API bench (goals G5, G7, G8 of the performance anchors), all on loopback, bounded in count and time:
 *   1. p99 event-loop delay of the HTTP thread while generations run (goal <= 20 ms)
 *   2. req/s of GET /api/v1/threads/{guid}/entries (bearer auth, SQLite, 2 entries) ÷ req/s of a
 *      hello-world Fastify route, same process, same load generator, same run (goal >= 0.5)
 *   3. median enqueue → job-start latency with an idle worker (goal <= 5 ms)
 *
 *   npm run bench:api [-- --duration 5 --connections 32 --samples 50]
 *   npm run bench:api -- --postgres --redis [--pickup-only]   (G9: the scale-out store and queue; a fresh
 *     database on SDAPI_BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres, dropped after;
 *     Redis on SDAPI_BENCH_REDIS_URL, default redis://127.0.0.1:6379, under a unique key prefix removed after)
 *
 * The load generator runs in a worker thread (its own event loop) with keep-alive sockets, so on a
 * 2-core box server and client each get roughly one core; read the ratio with that caveat.
 */
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import Fastify from 'fastify';

interface LoadSpec {
  url: string;
  headers: Record<string, string>;
  connections: number;
  durationMs: number;
  maxRequests: number;
}

interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  rps: number;
  p50ms: number;
  p99ms: number;
}

/**
 * Worker-thread side: a closed-loop keep-alive load generator (plain JS, run with `eval`, so the
 * thread needs no TypeScript loader). Bounded by time and by request count; loopback only.
 */
const LOAD_GENERATOR = `
const http = require('node:http');
const { performance } = require('node:perf_hooks');
const { parentPort, workerData: spec } = require('node:worker_threads');
const agent = new http.Agent({ keepAlive: true, maxSockets: spec.connections });
const url = new URL(spec.url);
if (url.hostname !== '127.0.0.1') throw new Error('loopback only');
const latencies = [];
let requests = 0, errors = 0;
const start = performance.now();
const end = start + spec.durationMs;
const one = () => new Promise((resolve) => {
  const t0 = performance.now();
  const req = http.request({ agent, host: url.hostname, port: url.port, path: url.pathname, headers: spec.headers }, (res) => {
    res.on('data', () => undefined);
    res.on('end', () => { if (res.statusCode !== 200) errors++; latencies.push(performance.now() - t0); resolve(); });
  });
  req.on('error', () => { errors++; resolve(); });
  req.end();
});
Promise.all(Array.from({ length: spec.connections }, async () => {
  while (performance.now() < end && requests < spec.maxRequests) { requests++; await one(); }
})).then(() => {
  const seconds = (performance.now() - start) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] || 0;
  parentPort.postMessage({ requests, errors, seconds, rps: requests / seconds, p50ms: q(0.5), p99ms: q(0.99) });
});
`;

await main();

function runLoad(spec: LoadSpec): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(LOAD_GENERATOR, { eval: true, workerData: spec });
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '5' },
      connections: { type: 'string', default: '32' },
      samples: { type: 'string', default: '50' },
      rounds: { type: 'string', default: '3' },
      // Opens SQLite with src/store/statement-cache.ts in front of Kysely (proposed for src/store/database.ts).
      'statement-cache': { type: 'boolean', default: false },
      postgres: { type: 'boolean', default: false },
      redis: { type: 'boolean', default: false },
      // Only the enqueue → start measurement (G8/G9).
      'pickup-only': { type: 'boolean', default: false },
    },
  });
  const durationMs = Number(values.duration) * 1000;
  const connections = Number(values.connections);
  const samples = Number(values.samples);
  const rounds = Number(values.rounds);

  const { loadConfig, projectRoot } = await import('../src/config.ts');
  const { openStore } = await import('../src/store/database.ts');
  const { createServices } = await import('../src/services/index.ts');
  const { buildApp } = await import('../src/api/app.ts');
  const { GenerationWorker } = await import('../src/worker/generation-worker.ts');

  const dataDir = mkdtempSync(join(os.tmpdir(), 'sdapi-bench-'));
  process.once('exit', () => rmSync(dataDir, { recursive: true, force: true }));
  const demo = join(projectRoot, 'models/demo');
  const modelDir = process.env.SDAPI_MODEL_DIR || (existsSync(join(demo, 'model_index.json')) ? demo : join(projectRoot, 'models/tiny/sd1'));
  const scaleOut = await scaleOutEnv(values.postgres, values.redis);
  const config = loadConfig({ ...process.env, SDAPI_DATA_DIR: dataDir, SDAPI_MODEL_DIR: modelDir, PORT: '0', LOG_LEVEL: 'warn', ...scaleOut.env });
  const store = values['statement-cache'] ? await openCachedSqlite(config.databaseUrl) : await openStore(config.databaseUrl);
  const services = createServices(store, config);
  const app = await buildApp({ services });
  const starts = new Map<string, number>();
  const ends = new Map<string, () => void>();
  const worker = new GenerationWorker(
    { jobs: services.jobs, generation: services.generation },
    {
      concurrency: 1,
      onJobStart: (job) => starts.set((job.payload as { entryId: string }).entryId, performance.now()),
      onJobEnd: (job) => ends.get((job.payload as { entryId: string }).entryId)?.(),
    },
  );
  await worker.start();
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;

  const hello = Fastify({ logger: false });
  hello.get('/hello', async () => ({ hello: 'world' }));
  await hello.listen({ host: '127.0.0.1', port: 0 });
  const helloPort = (hello.server.address() as { port: number }).port;

  const user = await services.users.create('bench@example.com', 'correct horse battery');
  await services.credits.grant(user.id, 1_000_000_000, 'bench');
  const application = await services.applications.create(user.id, 'bench');
  const { token } = await services.applications.createToken(user.id, application.id);
  const thread = await services.threads.create(user.id, 'stablediffusion_text2img');
  const small = { engine: 'stable-diffusion-xl-1024-v0-9', resolution: '1024x1024', prompts: [{ text: 'Delorean hacking time', weight: 1 }, { text: 'Clock', weight: -1 }], images: 1, steps: 10 };

  const finish = (entryId: string) => new Promise<void>((resolve) => ends.set(entryId, resolve));
  // Warm-up: loads the model in the engine thread.
  {
    const e = await services.entries.createRequest(user.id, thread.id, small);
    await finish(e.id);
  }

  // 3. enqueue → job start (idle worker): time from the create call to the worker's claim.
  const pickup: number[] = [];
  const pickThread = await services.threads.create(user.id, 'stablediffusion_text2img');
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    const created = services.entries.createRequest(user.id, pickThread.id, small);
    const id = (await created).id;
    const done = finish(id);
    await done;
    pickup.push(starts.get(id)! - t0);
  }
  pickup.sort((a, b) => a - b);
  const mode = `${store.dialect}, ${config.queueUrl ? 'redis' : 'embedded'} queue`;
  if (values['pickup-only']) {
    const median = pickup[Math.floor(pickup.length / 2)];
    const p99 = pickup[Math.min(pickup.length - 1, Math.floor(pickup.length * 0.99))];
    console.log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model}, node ${process.version}, model ${modelDir}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    console.log(`${config.queueUrl || store.dialect === 'postgres' ? 'G9' : 'G8'} enqueue → job start (${mode}): median ${median.toFixed(3)} ms, p99 ${p99.toFixed(3)} ms over ${pickup.length} — goal <= ${config.queueUrl || store.dialect === 'postgres' ? 10 : 5} ms`);
    console.log(JSON.stringify({ mode, pickup: { samples: pickup.length, medianMs: Number(median.toFixed(3)), p99Ms: Number(p99.toFixed(3)) } }));
    await hello.close();
    await worker.stop();
    await app.close();
    await services.close();
    await store.close();
    await scaleOut.cleanup();
    rmSync(dataDir, { recursive: true, force: true });
    return;
  }

  // 1. event-loop delay while generations run back to back (tutorial request: 2 images, 45 steps, 1024x1024 upscaled).
  const tutorial = { ...small, images: 2, steps: 45, style: 'neon-punk' };
  const idle = monitorEventLoopDelay({ resolution: 1 });
  idle.enable();
  await new Promise((r) => setTimeout(r, 1000));
  idle.disable();
  const busy = monitorEventLoopDelay({ resolution: 1 });
  const genThread = await services.threads.create(user.id, 'stablediffusion_text2img');
  let generations = 0;
  const genStart = performance.now();
  busy.enable();
  while (performance.now() - genStart < durationMs || generations < 2) {
    const e = await services.entries.createRequest(user.id, genThread.id, tutorial);
    await finish(e.id);
    generations++;
  }
  busy.disable();
  const genSeconds = (performance.now() - genStart) / 1000;

  // 2. entries route vs hello world, alternating rounds; the best round of each.
  const listThread = await services.threads.create(user.id, 'stablediffusion_text2img');
  const e = await services.entries.createRequest(user.id, listThread.id, tutorial);
  await finish(e.id);
  const entriesUrl = `http://127.0.0.1:${port}/api/v1/threads/${listThread.id}/entries`;
  const check = await fetch(entriesUrl, { headers: { authorization: `Bearer ${token}` } });
  const body = (await check.json()) as { data: unknown[] };
  if (check.status !== 200 || body.data.length !== 2) throw new Error(`entries route not ready: ${check.status}`);
  const common = { connections, durationMs, maxRequests: 2_000_000 };
  const helloRuns: LoadResult[] = [];
  const entryRuns: LoadResult[] = [];
  for (let r = 0; r < rounds; r++) {
    helloRuns.push(await runLoad({ ...common, url: `http://127.0.0.1:${helloPort}/hello`, headers: {} }));
    entryRuns.push(await runLoad({ ...common, url: entriesUrl, headers: { authorization: `Bearer ${token}`, accept: 'application/json' } }));
  }
  const best = (runs: LoadResult[]) => runs.reduce((a, b) => (b.rps > a.rps ? b : a));
  const h = best(helloRuns);
  const en = best(entryRuns);

  const ms = (ns: number) => ns / 1e6;
  const result = {
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, modelDir },
    eventLoopDelay: {
      generations,
      seconds: Number(genSeconds.toFixed(2)),
      busyP50ms: Number(ms(busy.percentile(50)).toFixed(2)),
      busyP99ms: Number(ms(busy.percentile(99)).toFixed(2)),
      busyMaxMs: Number(ms(busy.max).toFixed(2)),
      idleP99ms: Number(ms(idle.percentile(99)).toFixed(2)),
      goalP99ms: 20,
    },
    throughput: {
      helloRps: Math.round(h.rps),
      entriesRps: Math.round(en.rps),
      ratio: Number((en.rps / h.rps).toFixed(3)),
      entriesP99ms: Number(en.p99ms.toFixed(2)),
      errors: helloRuns.concat(entryRuns).reduce((a, r) => a + r.errors, 0),
      allRounds: { hello: helloRuns.map((r) => Math.round(r.rps)), entries: entryRuns.map((r) => Math.round(r.rps)) },
      connections,
      goalRatio: 0.5,
    },
    pickup: {
      samples: pickup.length,
      medianMs: Number(pickup[Math.floor(pickup.length / 2)].toFixed(3)),
      p99Ms: Number(pickup[Math.min(pickup.length - 1, Math.floor(pickup.length * 0.99))].toFixed(3)),
      goalMedianMs: 5,
    },
  };

  console.log(`machine: ${result.machine.cpus} × ${result.machine.model}, node ${result.machine.node}, model ${modelDir}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}${values['statement-cache'] ? ', SQLite statement cache on' : ''}`);
  console.log(`G5 event-loop delay while generating (${generations} tutorial requests in ${result.eventLoopDelay.seconds} s): p99 ${result.eventLoopDelay.busyP99ms} ms (max ${result.eventLoopDelay.busyMaxMs}, idle p99 ${result.eventLoopDelay.idleP99ms}) — goal <= 20 ms`);
  console.log(`G7 GET entries ${result.throughput.entriesRps} req/s ÷ hello ${result.throughput.helloRps} req/s = ${result.throughput.ratio} — goal >= 0.5 (entries p99 ${result.throughput.entriesP99ms} ms, ${connections} connections)`);
  console.log(`G8 enqueue → job start (${mode}): median ${result.pickup.medianMs} ms, p99 ${result.pickup.p99Ms} ms over ${pickup.length} — goal <= 5 ms (G9, PostgreSQL/Redis: <= 10 ms)`);
  console.log(JSON.stringify(result));

  await hello.close();
  await worker.stop();
  await app.close();
  await services.close();
  await store.close();
  await scaleOut.cleanup();
  rmSync(dataDir, { recursive: true, force: true });
}

/** --postgres / --redis: a fresh database and a unique Redis key prefix, removed by cleanup(). */
async function scaleOutEnv(postgres: boolean | undefined, redis: boolean | undefined) {
  const env: Record<string, string> = {};
  const cleanups: (() => Promise<unknown>)[] = [];
  const tag = `${process.pid}_${Date.now().toString(36)}`;
  if (postgres) {
    const { default: pg } = await import('pg');
    const adminUrl = process.env.SDAPI_BENCH_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
    const name = `sdapi_bench_${tag}`;
    const admin = async (sql: string) => {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        await client.query(sql);
      } finally {
        await client.end();
      }
    };
    await admin(`CREATE DATABASE "${name}"`);
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    env.SDAPI_DATABASE_URL = url.toString();
    cleanups.push(() => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
  }
  if (redis) {
    const { Redis } = await import('ioredis');
    const url = process.env.SDAPI_BENCH_REDIS_URL || 'redis://127.0.0.1:6379';
    const prefix = `sdapi-bench:${tag}`;
    env.SDAPI_QUEUE_URL = url;
    env.SDAPI_QUEUE_PREFIX = prefix;
    cleanups.push(async () => {
      const client = new Redis(url);
      try {
        const keys = await client.keys(`${prefix}:*`);
        if (keys.length) await client.del(...keys);
      } finally {
        client.disconnect();
      }
    });
  }
  return {
    env,
    async cleanup() {
      for (const c of cleanups) await c().catch((err) => console.error(`cleanup: ${err instanceof Error ? err.message : String(err)}`));
    },
  };
}

/** The store as openStore() makes it, plus the prepared-statement cache (what --statement-cache measures). */
async function openCachedSqlite(url: string) {
  const { default: SQLite } = await import('better-sqlite3');
  const { Kysely, Migrator, SqliteDialect } = await import('kysely');
  const { migrationProvider } = await import('../src/store/migrations/index.ts');
  const { withStatementCache } = await import('../src/store/statement-cache.ts');
  type Database = import('../src/store/schema.ts').Database;
  const sqlite = new SQLite(url.replace(/^sqlite:/, ''));
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
  const { error } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest();
  if (error) throw error;
  return { db, dialect: 'sqlite' as const, close: () => db.destroy() };
}
