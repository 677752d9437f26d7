/**
 * API overhead (goal G7): req/s of the running server ÷ req/s of a bare Fastify route answering the very same
 * JSON body, for GET /api/v1/engines (a memory read) and GET /api/v1/threads/{guid}/entries (the polling path).
 * Everything runs in separate processes, as an operator would measure it: `sdapi serve` exactly as deployed
 * (default log level, logs to /dev/null), the bare server (bench/bare-server.mjs) and the load generator
 * (autocannon, a child process). Rounds alternate bare/real; the best round of each counts.
 *
 * The rate limiter's cost: the server runs with its limiter on (SDAPI_RATE_LIMIT with a quota the load never
 * reaches, so every request is counted and gets its RateLimit fields), and `engines-nolimit` measures the same route
 * on a second server with SDAPI_RATE_LIMIT=off; the limiter is also timed alone (µs per request, in memory and, when
 * one answers at 127.0.0.1:6379 or SDAPI_TEST_REDIS_URL, in Redis).
 *
 *   npm run bench:api [-- --duration 5 --connections 32 --rounds 3 --log-level info --routes engines,entries,engines-nolimit --cpu-prof DIR]
 *
 * --cpu-prof DIR starts the server with node --cpu-prof (open the .cpuprofile in Chrome DevTools or speedscope).
 * On a 2-core box the server and the load generator each get about one core: read the ratios, not the req/s.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin/sdapi.js');
const AUTOCANNON = join(ROOT, 'node_modules/autocannon/autocannon.js');

interface Round {
  rps: number;
  p99ms: number;
  requests: number;
  errors: number;
}

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '3' },
    'log-level': { type: 'string', default: 'info' },
    'cpu-prof': { type: 'string' },
    /** Measure only these routes (comma-separated: engines, entries, engines-nolimit), e.g. while profiling one path. */
    routes: { type: 'string', default: 'engines,entries,engines-nolimit' },
  },
});

const children: ChildProcess[] = [];
const dataDir = mkdtempSync(join(os.tmpdir(), 'sdapi-bench-'));
process.once('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

await main();

async function main(): Promise<void> {
  const demo = join(ROOT, 'models/demo');
  const modelDir = process.env.SDAPI_MODEL_DIR || (existsSync(join(demo, 'model_index.json')) ? demo : join(ROOT, 'models/tiny/sd1'));
  const port = await freePort();
  // The limiter counts every request, with a quota the load never reaches (a 429 would end the measurement).
  const env = { ...process.env, SDAPI_DATA_DIR: dataDir, SDAPI_MODEL_DIR: modelDir, SDAPI_DATABASE_URL: '', HOST: '127.0.0.1', PORT: String(port), SDAPI_WORKERS: '1', LOG_LEVEL: values['log-level'], SDAPI_RATE_LIMIT: '999999999/10s', SDAPI_QUEUE_URL: '' };

  cli(['users', 'create', '--email', 'bench@example.com', '--password', 'correct horse battery', '--credits', '1000000'], env);
  const token = cli(['tokens', 'create', '--email', 'bench@example.com', '--application', 'bench'], env).trim();

  const nodeFlags = values['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', resolve(values['cpu-prof'])] : [];
  const server = spawn(process.execPath, [...nodeFlags, BIN, 'serve'], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(server);
  const base = `http://127.0.0.1:${port}`;
  await waitFor(`${base}/api/v1/openapi.json`, server);

  const auth = { authorization: `Bearer ${token}`, accept: 'application/json' };
  const thread = (await json(`${base}/api/v1/threads`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ ai_version_code: 'stablediffusion_text2img' }) })).data.guid;
  const tutorial = { engine: 'stable-diffusion-xl-1024-v0-9', resolution: '1024x1024', prompts: [{ text: 'Delorean hacking time', weight: 1 }, { text: 'Clock', weight: -1 }], images: 2, steps: 45, style: 'neon-punk' };
  await json(`${base}/api/v1/threads/${thread}/entry`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(tutorial) });
  const entriesPath = `/api/v1/threads/${thread}/entries`;
  for (const deadline = Date.now() + 300_000; ; ) {
    const list = await json(base + entriesPath, { headers: auth });
    if (list.data.length === 2) break;
    if (Date.now() > deadline) throw new Error('the tutorial request did not complete');
    await new Promise((r) => setTimeout(r, 200));
  }
  const wanted = values.routes!.split(',');
  // The same route on a second server over the same data, with the rate limiter off.
  let unlimitedBase: string | undefined;
  if (wanted.includes('engines-nolimit')) {
    const unlimitedPort = await freePort();
    const unlimited = spawn(process.execPath, [BIN, 'serve'], { cwd: ROOT, env: { ...env, PORT: String(unlimitedPort), SDAPI_WORKERS: '0', SDAPI_RATE_LIMIT: 'off' }, stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(unlimited);
    unlimitedBase = `http://127.0.0.1:${unlimitedPort}`;
    await waitFor(`${unlimitedBase}/api/v1/openapi.json`, unlimited);
  }
  const targets = [
    { key: 'engines', name: 'GET /engines', path: '/api/v1/engines', goal: 0.8, base },
    { key: 'entries', name: 'GET …/entries', path: entriesPath, goal: 0.5, base },
    { key: 'engines-nolimit', name: 'GET /engines, rate limiter off', path: '/api/v1/engines', goal: 0.8, base: unlimitedBase ?? base },
  ].filter((t) => wanted.includes(t.key));
  const bodies: Record<string, unknown> = {};
  for (const t of targets) bodies[t.path] = await json(base + t.path, { headers: auth });
  const bodiesFile = join(dataDir, 'bodies.json');
  writeFileSync(bodiesFile, JSON.stringify(bodies));
  const barePort = await freePort();
  const bare = spawn(process.execPath, [join(ROOT, 'bench/bare-server.mjs'), bodiesFile, String(barePort)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(bare);
  await waitFor(`http://127.0.0.1:${barePort}${targets[0].path}`, bare);

  const results = [];
  for (const t of targets) {
    const bareRounds: Round[] = [];
    const realRounds: Round[] = [];
    for (let r = 0; r < Number(values.rounds); r++) {
      bareRounds.push(load(`http://127.0.0.1:${barePort}${t.path}`, {}));
      realRounds.push(load(t.base + t.path, auth));
    }
    const best = (rounds: Round[]) => rounds.reduce((a, b) => (b.rps > a.rps ? b : a));
    const b = best(bareRounds);
    const s = best(realRounds);
    results.push({
      route: t.name,
      bodyBytes: JSON.stringify(bodies[t.path]).length,
      bareRps: Math.round(b.rps),
      serverRps: Math.round(s.rps),
      ratio: Number((s.rps / b.rps).toFixed(3)),
      goal: t.goal,
      serverP99ms: s.p99ms,
      errors: [...bareRounds, ...realRounds].reduce((a, x) => a + x.errors, 0),
      rounds: { bare: bareRounds.map((x) => Math.round(x.rps)), server: realRounds.map((x) => Math.round(x.rps)) },
    });
  }

  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  await Promise.all(children.map(exited));
  const limiter = await limiterMicrobench();

  const cpu = os.cpus();
  console.log(`machine: ${cpu.length} × ${cpu[0]?.model}, node ${process.version}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  console.log(`server: sdapi serve (SQLite, 1 worker, LOG_LEVEL=${values['log-level']}); load: autocannon -c ${values.connections} -d ${values.duration}, ${values.rounds} rounds, best of each`);
  for (const r of results) {
    console.log(`G7 ${r.route}: ${r.serverRps} req/s ÷ bare ${r.bareRps} req/s = ${r.ratio} (goal >= ${r.goal}; ${r.bodyBytes} B body, server p99 ${r.serverP99ms} ms, rounds ${r.rounds.server.join('/')} vs ${r.rounds.bare.join('/')})`);
  }
  const on = results.find((r) => r.route === 'GET /engines');
  const off = results.find((r) => r.route === 'GET /engines, rate limiter off');
  if (on && off) {
    const perRequestUs = (1 / on.serverRps - 1 / off.serverRps) * 1e6;
    console.log(`rate limiter, end to end: GET /engines ${on.serverRps} req/s with it ÷ ${off.serverRps} req/s without = ${(on.serverRps / off.serverRps).toFixed(3)} (${perRequestUs.toFixed(1)} µs per request)`);
  }
  console.log(`rate limiter alone: ${limiter.map((l) => `${l.store} ${l.usPerRequest.toFixed(2)} µs/request (${l.mode})`).join('; ')}`);
  console.log(JSON.stringify({ machine: { cpus: cpu.length, model: cpu[0]?.model, node: process.version, loadavg: os.loadavg() }, results, limiter }));
  // The event stream's latency and the API's event loop under 20 SSE clients (issue #9): bench/events.ts.
  const events = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/events.ts')], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  process.stdout.write(events.stdout);
  // The fair-share claim with 10,000 pending jobs from 100 accounts, SQLite and PostgreSQL (issue #10): bench/claim.ts.
  const claim = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/claim.ts')], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  process.stdout.write(claim.stdout);
  if (results.some((r) => r.errors > 0)) {
    console.error('some requests failed');
    process.exitCode = 1;
  }
}

/**
 * The limiter alone, in this process: one key consumed over and over (the hot path of a polling client), awaited one
 * at a time (latency), and for Redis also 32 in flight (what 32 connections of load give one API process).
 */
async function limiterMicrobench(): Promise<{ store: string; mode: string; usPerRequest: number }[]> {
  const { memoryRequestLimiter, redisRequestLimiter } = await import('../src/services/limits/request-limiter.ts');
  const policy = { name: 'bench', quota: 999_999_999, windowSeconds: 10 };
  const time = async (consume: () => Promise<unknown>, n: number, parallel: number) => {
    for (let i = 0; i < Math.min(n, 2000); i++) await consume();
    const start = process.hrtime.bigint();
    await Promise.all(Array.from({ length: parallel }, async () => {
      for (let i = 0; i < n / parallel; i++) await consume();
    }));
    return Number(process.hrtime.bigint() - start) / 1000 / n;
  };
  const memory = memoryRequestLimiter(policy);
  const out = [{ store: 'memory', mode: 'sequential', usPerRequest: await time(() => memory.consume('t:bench'), 200_000, 1) }];
  const { Redis } = await import('ioredis');
  const redis = new Redis(process.env.SDAPI_TEST_REDIS_URL || 'redis://127.0.0.1:6379', { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    const limiter = redisRequestLimiter(policy, redis, `sdapi-bench-${process.pid}`);
    out.push({ store: 'redis', mode: 'sequential', usPerRequest: await time(() => limiter.consume('t:bench'), 5000, 1) });
    out.push({ store: 'redis', mode: '32 in flight', usPerRequest: await time(() => limiter.consume('t:bench'), 20_000, 32) });
    await redis.del(`sdapi-bench-${process.pid}:rl:bench:t:bench`);
  } catch {
    // no Redis here: the memory figure only
  } finally {
    redis.disconnect();
  }
  return out;
}

function cli(args: string[], env: NodeJS.ProcessEnv): string {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sdapi ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** One autocannon run in its own process; its JSON report gives the mean req/s and the latency percentiles. */
function load(url: string, headers: Record<string, string>): Round {
  const headerArgs = Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}=${v}`]);
  const r = spawnSync(process.execPath, [AUTOCANNON, '-j', '-c', values.connections!, '-d', values.duration!, ...headerArgs, url], { cwd: ROOT, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`autocannon failed: ${r.stderr}`);
  const report = JSON.parse(r.stdout) as { requests: { average: number; total: number }; latency: { p99: number }; errors: number; non2xx: number; timeouts: number };
  return { rps: report.requests.average, p99ms: report.latency.p99, requests: report.requests.total, errors: report.errors + report.non2xx + report.timeouts };
}

async function json(url: string, init: RequestInit = {}): Promise<any> {
  const res = await fetch(url, init);
  const text = await res.text();
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${url}: ${res.status} ${text}`);
  return JSON.parse(text);
}

async function waitFor(url: string, child: ChildProcess): Promise<void> {
  for (const deadline = Date.now() + 60_000; ; ) {
    if (child.exitCode !== null) throw new Error(`${url}: the process exited with ${child.exitCode}`);
    try {
      if ((await fetch(url)).status < 500) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => (typeof address === 'object' && address ? res(address.port) : rej(new Error('no port'))));
    });
  });
}
