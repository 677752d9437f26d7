/**
 * The event stream's costs (issue #9), in one process through the composition root, the API listening on a
 * loopback port and the engine in its worker thread as deployed:
 *   1. event latency from the engine's progress callback (on the API process's main thread, where EngineThread
 *      delivers it) to an SSE client reading the `progress` event: p50 and p99 (goal: p99 <= 50 ms);
 *   2. the API's event-loop delay p99 while 20 SSE clients watch a generation with previews (goal: <= 20 ms).
 *
 *   npm run bench:events [-- --images 4 --steps 150 --clients 20 --progress-ms 250]     (also run at the end of npm run bench:api)
 *
 * The clients run in this process too (20 readers of a few events per second cost little next to the API).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '4' },
    steps: { type: 'string', default: '150' },
    clients: { type: 'string', default: '20' },
    /** Progress publishing interval of the service (250 ms as deployed; 0 publishes every step). */
    'progress-ms': { type: 'string', default: '250' },
  },
});

const { loadConfig, projectRoot } = await import('../src/config/load-config.ts');
const { buildHttpApp, createWorker, openRuntime } = await import('../src/composition/runtime.ts');
type Control = import('../src/services/generation/image-generator.ts').GenerateControl;
type Generator = import('../src/services/generation/image-generator.ts').ImageGenerator;

const dataDir = mkdtempSync(join(os.tmpdir(), 'sdapi-bench-events-'));
process.once('exit', () => rmSync(dataDir, { recursive: true, force: true }));
const demo = join(projectRoot, 'models/demo');
const modelDir = process.env.SDAPI_MODEL_DIR || (existsSync(join(demo, 'model_index.json')) ? demo : join(projectRoot, 'models/tiny/sd1'));
const config = loadConfig({ SDAPI_DATA_DIR: dataDir, SDAPI_MODEL_DIR: modelDir, PORT: '0', SDAPI_RATE_LIMIT: 'off', SDAPI_QUEUE_URL: '', SDAPI_DATABASE_URL: '' });

/** When the engine's progress callback ran, by `image:step`. */
const callbackAt = new Map<string, number>();
const stamping = (inner: Generator): Generator => ({
  preload: (t) => inner.preload(t),
  deviceFor: (t) => inner.deviceFor(t),
  close: () => inner.close(),
  generate: (target, request, control: Control = {}) =>
    inner.generate(target, request, {
      ...control,
      onProgress: (p) => {
        callbackAt.set(`${p.image}:${p.step}`, performance.now());
        control.onProgress?.(p);
      },
    }),
});
// Progress is published at most every --progress-ms (the service's 250 ms by default; 0: every step is a sample).
const runtime = await openRuntime(config, { wrapGenerator: stamping, entryIntervals: { progressMs: Number(values['progress-ms']) } });
const app = await buildHttpApp(runtime);
await app.listen({ port: 0, host: '127.0.0.1' });
const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/api/v1`;
const worker = createWorker(runtime, { concurrency: 1 });
await worker.start();

const userId = (await runtime.services.users.create('bench-events@example.com', 'correct horse battery')).id;
await runtime.services.credits.grant(userId, 1_000_000, 'bench');
const application = await runtime.services.applications.create(userId, 'bench');
const token = (await runtime.services.applications.createToken(userId, application.id)).token;
const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json' };
const created = (await (await fetch(`${base}/threads`, { method: 'POST', headers, body: JSON.stringify({ ai_version_code: 'stablediffusion_text2img' }) })).json()) as { data: { guid: string } };
const thread = created.data.guid;
const body = { engine: 'stable-diffusion-v1-6', resolution: '512x512', prompts: [{ text: 'a lighthouse at dusk', weight: 1 }], images: Number(values.images), steps: Number(values.steps) };

// Warm-up: load the model (not measured).
await fetch(`${base}/threads/${thread}/entry`, { method: 'POST', headers: { ...headers, prefer: 'wait=60' }, body: JSON.stringify({ ...body, images: 1, steps: 10 }) });

const latencies: number[] = [];
let previews = 0;
const clients = Number(values.clients);
const aborts: AbortController[] = [];
const done: Promise<void>[] = [];
for (let c = 0; c < clients; c++) {
  const abort = new AbortController();
  aborts.push(abort);
  const res = await fetch(`${base}/threads/${thread}/events`, { headers: { authorization: headers.authorization }, signal: abort.signal });
  done.push(
    (async () => {
      const decoder = new TextDecoder();
      let buffer = '';
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          const at = performance.now();
          buffer += decoder.decode(chunk, { stream: true });
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const name = /^event: (.+)$/m.exec(block)?.[1];
            const data = /^data: (.+)$/m.exec(block)?.[1];
            if (!name || !data) continue;
            if (name === 'completed') return;
            if (name === 'preview' && c === 0) previews++;
            if (name !== 'progress' || c !== 0) continue;
            const event = JSON.parse(data) as { image: number; step: number };
            const start = callbackAt.get(`${event.image}:${event.step}`);
            if (start !== undefined) latencies.push(at - start);
          }
        }
      } catch {
        // aborted
      }
    })(),
  );
}
const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();
const started = performance.now();
await fetch(`${base}/threads/${thread}/entry`, { method: 'POST', headers, body: JSON.stringify(body) });
await Promise.all(done);
loop.disable();
const seconds = (performance.now() - started) / 1000;
for (const a of aborts) a.abort();

latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
const cpu = os.cpus();
console.log(`machine: ${cpu.length} × ${cpu[0]?.model}, node ${process.version}; model ${modelDir}; ${body.images} images × ${body.steps} steps in ${seconds.toFixed(1)} s`);
console.log(`event latency, engine progress callback → SSE client: p50 ${pct(50).toFixed(1)} ms, p99 ${pct(99).toFixed(1)} ms over ${latencies.length} progress events (goal p99 <= 50 ms)`);
console.log(`API event loop with ${clients} SSE clients watching, previews on (${previews} previews): p99 ${(loop.percentile(99) / 1e6).toFixed(1)} ms, max ${(loop.max / 1e6).toFixed(1)} ms (goal p99 <= 20 ms)`);
console.log(JSON.stringify({ progressMs: Number(values['progress-ms']), latencyMs: { p50: pct(50), p99: pct(99), samples: latencies.length }, eventLoopMs: { p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 }, clients, previews }));

await worker.stop();
await app.close();
await runtime.close();
