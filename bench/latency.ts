/**
 * In-process latencies (goals G5, G8/G9 of the performance anchors), through the composition root:
 *   1. p99 event-loop delay of the HTTP thread while generations run back to back (goal <= 20 ms)
 *   2. median enqueue → job-start latency with an idle worker (goal <= 5 ms; PostgreSQL/Redis: <= 10 ms)
 *
 *   npm run bench:latency [-- --duration 5 --samples 50]
 *   npm run bench:latency -- --postgres --redis [--pickup-only]   (a fresh database on SDAPI_BENCH_POSTGRES_URL,
 *     default postgres://postgres@127.0.0.1:5432/postgres, dropped after; Redis on SDAPI_BENCH_REDIS_URL, default
 *     redis://127.0.0.1:6379, under a unique key prefix removed after)
 * API throughput (G7) is measured from outside the process: npm run bench:api.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    samples: { type: 'string', default: '50' },
    postgres: { type: 'boolean', default: false },
    redis: { type: 'boolean', default: false },
    'pickup-only': { type: 'boolean', default: false },
  },
});

const { loadConfig, projectRoot } = await import('../src/config/load-config.ts');
const { createWorker, openRuntime } = await import('../src/composition/runtime.ts');

const dataDir = mkdtempSync(join(os.tmpdir(), 'sdapi-bench-'));
process.once('exit', () => rmSync(dataDir, { recursive: true, force: true }));
const demo = join(projectRoot, 'models/demo');
const modelDir = process.env.SDAPI_MODEL_DIR || (existsSync(join(demo, 'model_index.json')) ? demo : join(projectRoot, 'models/tiny/sd1'));
const scaleOut = await scaleOutEnv(values.postgres, values.redis);
const config = loadConfig({ SDAPI_DATA_DIR: dataDir, SDAPI_MODEL_DIR: modelDir, PORT: '0', ...scaleOut.env });
const runtime = await openRuntime(config);
const { services } = runtime;
const starts = new Map<string, number>();
const ends = new Map<string, () => void>();
const worker = createWorker(runtime, {
  concurrency: 1,
  onJobStart: (job) => starts.set(job.entryId ?? '', performance.now()),
  onJobEnd: (job) => ends.get(job.entryId ?? '')?.(),
});
await worker.start();

const user = await services.users.create('bench@example.com', 'correct horse battery');
await services.credits.grant(user.id, 1_000_000_000, 'bench');
const small = { engine: 'stable-diffusion-xl-1024-v0-9', resolution: '1024x1024', prompts: [{ text: 'Delorean hacking time', weight: 1 }, { text: 'Clock', weight: -1 }], images: 1, steps: 10 };
const finish = (entryId: string) => new Promise<void>((resolve) => ends.set(entryId, resolve));
const submit = async (threadId: string, body: typeof small & { style?: string }) => {
  const entry = await services.entries.createRequest(user.id, { threadId, body });
  await finish(entry.id);
  return entry.id;
};

// Warm-up: loads the model in the engine thread.
await submit((await services.threads.create(user.id, 'stablediffusion_text2img')).id, small);

// enqueue → job start with an idle worker: from the create call to the worker's claim.
const pickup: number[] = [];
const pickThread = await services.threads.create(user.id, 'stablediffusion_text2img');
for (let i = 0; i < Number(values.samples); i++) {
  const t0 = performance.now();
  const entry = await services.entries.createRequest(user.id, { threadId: pickThread.id, body: small });
  await finish(entry.id);
  pickup.push((starts.get(entry.id) ?? t0) - t0);
}
pickup.sort((a, b) => a - b);
const median = pickup[Math.floor(pickup.length / 2)];
const p99 = pickup[Math.min(pickup.length - 1, Math.floor(pickup.length * 0.99))];
const mode = `${runtime.store.dialect}, ${config.queueUrl ? 'redis' : 'in-process'} wake-ups`;
const cpu = os.cpus();
console.log(`machine: ${cpu.length} × ${cpu[0]?.model}, node ${process.version}, model ${modelDir}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
console.log(`G8/G9 enqueue → job start (${mode}): median ${median.toFixed(3)} ms, p99 ${p99.toFixed(3)} ms over ${pickup.length} — goal <= ${config.queueUrl || runtime.store.dialect === 'postgres' ? 10 : 5} ms`);

if (!values['pickup-only']) {
  // Event-loop delay while generations run back to back (tutorial request: 2 images, 45 steps, 1024x1024 upscaled).
  const idle = monitorEventLoopDelay({ resolution: 1 });
  idle.enable();
  await new Promise((r) => setTimeout(r, 1000));
  idle.disable();
  const busy = monitorEventLoopDelay({ resolution: 1 });
  const genThread = await services.threads.create(user.id, 'stablediffusion_text2img');
  let generations = 0;
  const start = performance.now();
  busy.enable();
  while (performance.now() - start < Number(values.duration) * 1000 || generations < 2) {
    await submit(genThread.id, { ...small, images: 2, steps: 45, style: 'neon-punk' });
    generations++;
  }
  busy.disable();
  const ms = (ns: number) => (ns / 1e6).toFixed(2);
  console.log(`G5 event-loop delay while generating (${generations} tutorial requests in ${((performance.now() - start) / 1000).toFixed(1)} s): p99 ${ms(busy.percentile(99))} ms (max ${ms(busy.max)}, idle p99 ${ms(idle.percentile(99))}) — goal <= 20 ms`);
}

await worker.stop();
await runtime.close();
await scaleOut.cleanup();

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
