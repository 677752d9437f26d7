/**
 * Fair scheduling end to end on PostgreSQL (issue #10): `sdapi serve` without workers and two `sdapi worker`
 * processes whose generations are held until the test lets one through (the test entry script's --step-generation),
 * so the order in which jobs start is decided by the scheduler alone, one claim at a time, with no sleeps:
 * - a heavy account's 8 queued requests cannot starve two light accounts: every light request starts before the
 *   heavy account's third, although the heavy account queued first and its max_running (set with `sdapi users set`)
 *   does not hold it back; first-in-first-out would have started them 9th to 11th;
 * - max_running holds across the two processes: with one of its jobs running, a capped account's next job waits
 *   while a later request of another account is started by the other worker;
 * - every job is claimed once and every request answered once.
 * Uses Redis for wake-ups when it answers (else the workers' idle polling). Skips when PostgreSQL is unreachable.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openStore, type Store } from '../../src/store/database.ts';
import { api, cli, e2eModelEnv, freePort, startServe, startWorker, type ServerProcess, type WorkerProcess } from '../helpers/e2e.ts';
import { createTestDatabase, postgresUnavailable, REDIS_URL, redisPrefix, redisUnavailable, removeRedisKeys, type TestDatabase } from '../helpers/scale-out.ts';

const unavailable = await postgresUnavailable();
if (unavailable) console.log(`# skipping the fair-share end-to-end test: ${unavailable}`);
const redisDown = unavailable ? 'skipped' : await redisUnavailable();

const LONG = { engine: 'stable-diffusion-v1-6', resolution: '512x512', prompts: [{ text: 'a long voyage', weight: 1 }], images: 2, steps: 40 };
const SHORT = { engine: 'stable-diffusion-v1-6', resolution: '512x512', prompts: [{ text: 'a quick sketch', weight: 1 }], images: 1, steps: 10 };

describe('fair share on PostgreSQL with two worker processes', { skip: unavailable ? `skipped: ${unavailable}` : false }, () => {
  let dataDir: string;
  let database: TestDatabase;
  let prefix: string | undefined;
  let env: NodeJS.ProcessEnv;
  let server: ServerProcess | undefined;
  let store: Store | undefined;
  const workers: WorkerProcess[] = [];

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'sdapi-fair-'));
    database = await createTestDatabase('fair_e2e');
    env = { SDAPI_DATA_DIR: dataDir, SDAPI_DATABASE_URL: database.url, ...e2eModelEnv() };
    if (!redisDown) {
      prefix = redisPrefix('fair');
      env.SDAPI_QUEUE_URL = REDIS_URL;
      env.SDAPI_QUEUE_PREFIX = prefix;
    }
  });
  after(async () => {
    for (const w of workers) await w.kill9();
    await server?.kill9();
    await store?.close();
    await database?.drop();
    if (prefix) await removeRedisKeys(prefix);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const diagnostics = () => `\n--- server ---\n${server?.output()}\n--- workers ---\n${workers.map((w) => w.output()).join('\n')}`;
  async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      assert.ok(Date.now() < deadline, `${what}${diagnostics()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  interface Job {
    entry_id: string | null;
    status: string;
    lease_owner: string | null;
    attempts: number;
  }
  const jobs = async (): Promise<Job[]> => store!.db.selectFrom('jobs').select(['entry_id', 'status', 'lease_owner', 'attempts']).orderBy('started_at').execute();
  /** Waits until exactly `count` jobs run and returns their entry ids. */
  const runningNow = (count: number, what: string) =>
    waitFor(what, async () => {
      const running = (await jobs()).filter((j) => j.status === 'running');
      return running.length === count ? running : undefined;
    });
  const ownerPid = (job: Job) => Number(job.lease_owner?.split(':')[1]);
  const workerOf = (job: Job) => {
    const worker = workers.find((w) => w.child.pid === ownerPid(job));
    assert.ok(worker, `a worker of ours holds ${job.entry_id} (${job.lease_owner})`);
    return worker;
  };

  async function account(email: string, settings: string[]): Promise<string> {
    assert.equal((await cli(['users', 'create', '--email', email, '--password', 'correct horse battery', '--credits', '100'], env)).code, 0);
    if (settings.length > 0) {
      const set = await cli(['users', 'set', '--email', email, ...settings], env);
      assert.equal(set.code, 0, set.stderr);
    }
    return (await cli(['tokens', 'create', '--email', email, '--application', 'fair'], env)).stdout.trim();
  }
  async function request(token: string, body: object): Promise<string> {
    const thread = (await api(server!.url, token, 'POST', '/threads', { ai_version_code: 'stablediffusion_text2img' })).json.data.guid;
    const res = await api(server!.url, token, 'POST', `/threads/${thread}/entry`, body);
    assert.equal(res.status, 201, JSON.stringify(res.json));
    return res.json.data.guid;
  }

  it('a heavy account cannot starve light ones; max_running holds across processes; each job runs once', async () => {
    const heavy = await account('heavy@example.com', ['--max-running', '8']);
    const light = await account('light@example.com', []);
    const other = await account('other@example.com', ['--max-running', '1']);
    const port = await freePort();
    env.SDAPI_PUBLIC_URL = `http://127.0.0.1:${port}`;
    server = await startServe({ ...env, SDAPI_WORKERS: '0' }, port);
    store = await openStore(database.url, { poolSize: 2 });

    // The heavy account queues 8 long requests, then the light accounts 1 and 2 short ones, before any worker runs.
    const heavyIds: string[] = [];
    for (let i = 0; i < 8; i++) heavyIds.push(await request(heavy, LONG));
    const lightIds = [await request(light, SHORT)];
    const otherIds = [await request(other, SHORT), await request(other, SHORT)];
    const name = new Map<string, string>([...heavyIds.map((id, i) => [id, `heavy${i + 1}`] as const), [lightIds[0], 'light1'], [otherIds[0], 'other1'], [otherIds[1], 'other2']]);

    // Two worker processes; each claim happens while the other worker's job is held, so each start is the scheduler's choice.
    const started: string[] = [];
    const record = (running: Job[]) => {
      for (const job of running) if (!started.includes(name.get(job.entry_id!)!)) started.push(name.get(job.entry_id!)!);
    };
    workers.push(await startWorker(env, ['--concurrency', '1'], { stepGeneration: true }));
    record(await runningNow(1, 'the first worker never started a job'));
    workers.push(await startWorker(env, ['--concurrency', '1'], { stepGeneration: true }));
    record(await runningNow(2, 'the second worker never started a job'));
    for (let finished = 0; finished < 11; finished++) {
      const running = (await jobs()).filter((j) => j.status === 'running');
      // Let the job that started first finish; its worker then claims the next one (the other worker stays held).
      const oldest = running.find((j) => name.get(j.entry_id!) === started.find((s) => running.some((r) => name.get(r.entry_id!) === s)));
      assert.ok(oldest, `a running job: ${JSON.stringify(running)}`);
      workerOf(oldest).releaseOne();
      const remaining = 11 - finished - 1;
      const next = await waitFor(`the release of ${name.get(oldest.entry_id!)} did not lead to the next start (started so far: ${started.join(' ')})`, async () => {
        const all = await jobs();
        if (all.find((j) => j.entry_id === oldest.entry_id)?.status !== 'done') return undefined;
        const now = all.filter((j) => j.status === 'running');
        return now.length === Math.min(2, remaining) ? now : undefined;
      });
      record(next);
    }
    assert.deepEqual(started, ['heavy1', 'light1', 'other1', 'heavy2', 'other2', 'heavy3', 'heavy4', 'heavy5', 'heavy6', 'heavy7', 'heavy8']);
    const position = (n: string) => started.indexOf(n);
    for (const n of ['light1', 'other1', 'other2']) assert.ok(position(n) < position('heavy3'), `${n} started before heavy3: ${started.join(' ')}`);

    const all = await jobs();
    assert.equal(all.length, 11);
    assert.ok(all.every((j) => j.status === 'done' && Number(j.attempts) === 1), `each job ran once: ${JSON.stringify(all)}`);
    const responses = await store.db.selectFrom('entries').select('request_id').where('type', '=', 'response').execute();
    assert.equal(responses.length, 11);
    assert.equal(new Set(responses.map((r) => r.request_id)).size, 11);
    const heavyView = (await api(server.url, heavy, 'GET', '/account')).json.data;
    assert.deepEqual([heavyView.max_running, heavyView.running, heavyView.queued], [8, 0, 0]);

    // max_running across the two processes: `other` (max 1) queues 2, then `light` 1. One worker takes other's first;
    // the other worker must pass over other's second (other is at its cap) and take light's later request.
    const capped = [await request(other, SHORT), await request(other, SHORT)];
    const later = await request(light, SHORT);
    const running = await runningNow(2, 'the two workers did not both start a job');
    assert.deepEqual(running.map((j) => j.entry_id).sort(), [capped[0], later].sort());
    assert.notEqual(ownerPid(running[0]), ownerPid(running[1]), 'one job in each worker process');
    assert.equal((await jobs()).find((j) => j.entry_id === capped[1])?.status, 'pending');
    const view = (await api(server.url, other, 'GET', '/account')).json.data;
    assert.deepEqual([view.running, view.queued], [1, 1]);
  });
});
