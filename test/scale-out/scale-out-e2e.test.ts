/**
 * The scale-out deployment as an operator runs it: `sdapi serve` with no workers (API only) and separate
 * `sdapi worker` processes, sharing PostgreSQL, Redis and a data directory. A request completes exactly once
 * with its credits charged once; a worker killed with -9 mid-job is replaced and the job finishes exactly once.
 * Skips when PostgreSQL or Redis is unreachable.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openStore } from '../../src/store/database.ts';
import { api, cli, e2eModelEnv, freePort, startServe, startWorker, type ServerProcess, type WorkerProcess } from '../helpers/e2e.ts';
import { createTestDatabase, postgresUnavailable, REDIS_URL, redisPrefix, redisUnavailable, removeRedisKeys, type TestDatabase } from '../helpers/scale-out.ts';

const unavailable = (await postgresUnavailable()) ?? (await redisUnavailable());
if (unavailable) console.log(`# skipping the scale-out end-to-end test: ${unavailable}`);

const REQUEST = { engine: 'stable-diffusion-v1-6', resolution: '512x512', prompts: [{ text: 'a lighthouse at dusk', weight: 1 }], images: 1, steps: 10 };

describe('scale-out: API process + separate worker processes on PostgreSQL and Redis', { skip: unavailable ? `skipped: ${unavailable}` : false }, () => {
  let dataDir: string;
  let database: TestDatabase;
  let prefix: string;
  let env: NodeJS.ProcessEnv;
  let server: ServerProcess | undefined;
  const workers: WorkerProcess[] = [];

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'sdapi-scale-out-'));
    database = await createTestDatabase('e2e');
    prefix = redisPrefix('e2e');
    env = { SDAPI_DATA_DIR: dataDir, SDAPI_DATABASE_URL: database.url, SDAPI_QUEUE_URL: REDIS_URL, SDAPI_QUEUE_PREFIX: prefix, ...e2eModelEnv() };
  });
  after(async () => {
    for (const w of workers) await w.kill9();
    await server?.kill9();
    await database?.drop();
    if (prefix) await removeRedisKeys(prefix);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 300_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      assert.ok(Date.now() < deadline, `${what}\n--- server ---\n${server?.output()}\n--- workers ---\n${workers.map((w) => w.output()).join('\n')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async function ledgerAndJobs(entryId: string) {
    const store = await openStore(database.url);
    try {
      const ledger = await store.db.selectFrom('credit_ledger').select(['kind', 'amount', 'billed']).where('entry_id', '=', entryId).execute();
      const jobs = await store.db.selectFrom('jobs').select(['status', 'attempts', 'created_at', 'started_at']).where('entry_id', '=', entryId).execute();
      const responses = await store.db.selectFrom('entries').select('id').where('request_id', '=', entryId).execute();
      return { ledger: ledger.map((l) => `${l.kind}:${l.amount}:${l.billed}`).sort(), jobs, responses: responses.length };
    } finally {
      await store.close();
    }
  }

  it('serves with SDAPI_WORKERS=0, a separate worker generates; kill -9 of a worker mid-job is recovered exactly once', async () => {
    assert.equal((await cli(['users', 'create', '--email', 'scale@example.com', '--password', 'correct horse battery', '--credits', '50'], env)).code, 0);
    const token = (await cli(['tokens', 'create', '--email', 'scale@example.com', '--application', 'scale-out'], env)).stdout.trim();
    assert.ok(token.length > 20);

    // Workers write image URLs, so every process shares SDAPI_PUBLIC_URL (the API's address).
    const port = await freePort();
    env.SDAPI_PUBLIC_URL = `http://127.0.0.1:${port}`;
    server = await startServe({ ...env, SDAPI_WORKERS: '0' }, port);
    const thread = (await api(server.url, token, 'POST', '/threads', { ai_version_code: 'stablediffusion_text2img' })).json.data.guid;

    // Without a worker the request only queues.
    const first = await api(server.url, token, 'POST', `/threads/${thread}/entry`, REQUEST);
    assert.equal(first.status, 201, JSON.stringify(first.json));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await api(server.url, token, 'GET', `/threads/${thread}/entries`)).json.data[0].status, 'queued');

    // One worker process picks it up and completes it once.
    workers.push(await startWorker(env));
    const entries = await waitFor('the first request never completed', async () => {
      const list = (await api(server!.url, token, 'GET', `/threads/${thread}/entries`)).json.data as any[];
      return list.some((e) => e.type === 'response') ? list : undefined;
    });
    assert.deepEqual(entries.map((e) => e.type), ['request', 'response']);
    assert.equal(entries[1].error, null, entries[1].error);
    assert.equal(entries[1].content.length, 1);
    const image = await fetch(entries[1].content[0].url);
    assert.equal(image.status, 200, 'the API process serves the file the worker wrote to the shared data dir');
    assert.equal(image.headers.get('content-type'), 'image/png');
    await image.arrayBuffer();
    assert.equal((await api(server.url, token, 'GET', '/account')).json.data.credits, 49);
    const once = await ledgerAndJobs(first.json.data.guid);
    assert.deepEqual(once.ledger, ['charge:0:1', 'reserve:-1:1']);
    assert.equal(once.responses, 1);
    assert.deepEqual(once.jobs.map((j) => `${j.status}:${j.attempts}`), ['done:1']);

    // A second request, with the worker already idle (blocked on Redis): report the enqueue → start time.
    const second = await api(server.url, token, 'POST', `/threads/${thread}/entry`, REQUEST);
    await waitFor('the second request never completed', async () => {
      const list = (await api(server!.url, token, 'GET', `/threads/${thread}/entries`)).json.data as any[];
      return list.filter((e) => e.type === 'response').length === 2 ? list : undefined;
    });
    const [job2] = (await ledgerAndJobs(second.json.data.guid)).jobs;
    console.log(`# enqueue → start through Redis to an idle worker process: ${Date.parse(job2.started_at!) - Date.parse(job2.created_at)} ms (informational)`);
    await workers[0].stop();
    assert.equal(workers[0].child.exitCode, 0, workers[0].output());

    // A worker that holds the job in `running` (the test entry script holds its generations) is killed with -9 …
    const doomed = await startWorker(env, [], { holdGeneration: true });
    workers.push(doomed);
    const third = await api(server.url, token, 'POST', `/threads/${thread}/entry`, REQUEST);
    assert.equal(third.status, 201);
    await waitFor('the third request never started', async () => {
      const list = (await api(server!.url, token, 'GET', `/threads/${thread}/entries`)).json.data as any[];
      return list.find((e) => e.guid === third.json.data.guid)?.status === 'running' ? true : undefined;
    });
    await doomed.kill9();
    assert.equal((await api(server.url, token, 'GET', '/account')).json.data.credits, 47);

    // … and a replacement worker recovers the job and finishes it exactly once.
    workers.push(await startWorker(env));
    const done = await waitFor('the killed job was not finished by the replacement worker', async () => {
      const list = (await api(server!.url, token, 'GET', `/threads/${thread}/entries`)).json.data as any[];
      return list.filter((e) => e.type === 'response').length === 3 ? list : undefined;
    });
    const response = done.find((e) => e.type === 'response' && e.request_guid === third.json.data.guid) ?? done[done.length - 1];
    assert.equal(response.error, null, response.error);
    assert.equal((await api(server.url, token, 'GET', '/account')).json.data.credits, 47);
    const recovered = await ledgerAndJobs(third.json.data.guid);
    assert.deepEqual(recovered.ledger, ['charge:0:1', 'reserve:-1:1']);
    assert.equal(recovered.responses, 1);
    assert.deepEqual(recovered.jobs.map((j) => `${j.status}:${j.attempts}`), ['done:2']);

    await workers[2].stop();
    assert.equal(workers[2].child.exitCode, 0, workers[2].output());
    await server.stop();
    assert.equal(server.child.exitCode, 0, server.output());
  });
});
