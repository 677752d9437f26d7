/**
 * Follow and cancel across processes (issue #9): `sdapi serve` (API only) and a separate `sdapi worker` on
 * PostgreSQL and Redis. The worker's events (started, progress, completed) reach the API process's event stream
 * through Redis; a cancel sent to the API stops a job running in the worker process. Skips when PostgreSQL or Redis
 * is unreachable.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { api, cli, e2eModelEnv, freePort, startServe, startWorker, type ServerProcess, type WorkerProcess } from '../helpers/e2e.ts';
import { createTestDatabase, postgresUnavailable, REDIS_URL, redisPrefix, redisUnavailable, removeRedisKeys, type TestDatabase } from '../helpers/scale-out.ts';
import { openEventStream, type SseClient } from '../helpers/sse-client.ts';

const unavailable = (await postgresUnavailable()) ?? (await redisUnavailable());
if (unavailable) console.log(`# skipping the cross-process events test: ${unavailable}`);

const REQUEST = { engine: 'stable-diffusion-v1-6', resolution: '512x512', prompts: [{ text: 'a lighthouse at dusk', weight: 1 }], images: 1, steps: 10 };

describe('events and cancel across processes (PostgreSQL + Redis)', { skip: unavailable ? `skipped: ${unavailable}` : false }, () => {
  let dataDir: string;
  let database: TestDatabase;
  let prefix: string;
  let env: NodeJS.ProcessEnv;
  let server: ServerProcess | undefined;
  let token: string;
  const workers: WorkerProcess[] = [];
  const streams: SseClient[] = [];

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'sdapi-events-'));
    database = await createTestDatabase('events');
    prefix = redisPrefix('events');
    const port = await freePort();
    env = { SDAPI_DATA_DIR: dataDir, SDAPI_DATABASE_URL: database.url, SDAPI_QUEUE_URL: REDIS_URL, SDAPI_QUEUE_PREFIX: prefix, SDAPI_PUBLIC_URL: `http://127.0.0.1:${port}`, ...e2eModelEnv() };
    assert.equal((await cli(['users', 'create', '--email', 'events@example.com', '--password', 'correct horse battery', '--credits', '50'], env)).code, 0);
    token = (await cli(['tokens', 'create', '--email', 'events@example.com', '--application', 'events'], env)).stdout.trim();
    server = await startServe({ ...env, SDAPI_WORKERS: '0' }, port);
  });
  after(async () => {
    for (const s of streams) s.close();
    for (const w of workers) await w.kill9();
    await server?.kill9();
    await database?.drop();
    if (prefix) await removeRedisKeys(prefix);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  async function follow(thread: string): Promise<SseClient> {
    const stream = await openEventStream(`${server!.url}/api/v1/threads/${thread}/events`, { authorization: `Bearer ${token}` });
    assert.equal(stream.status, 200);
    streams.push(stream);
    return stream;
  }

  it("a worker process's events reach the API process's stream through Redis", async () => {
    workers.push(await startWorker(env));
    const thread = (await api(server!.url, token, 'POST', '/threads', { ai_version_code: 'stablediffusion_text2img' })).json.data.guid;
    const stream = await follow(thread);
    const created = await api(server!.url, token, 'POST', `/threads/${thread}/entry`, REQUEST);
    assert.equal(created.status, 201);
    const completed = await stream.next((e) => e.event === 'completed', 120_000);
    const names = stream.events.map((e) => e.event);
    assert.equal(names[0], 'queued');
    assert.equal(names[1], 'started');
    assert.ok(names.includes('progress'), names.join(','));
    assert.equal(completed.data.entry_guid, created.json.data.guid);
    const entries = (await api(server!.url, token, 'GET', `/threads/${thread}/entries`)).json.data;
    assert.deepEqual(completed.data.response, entries[1]);
    await workers.pop()!.stop();
  });

  it('a cancel sent to the API process stops the job running in the worker process; it is refunded in full', async () => {
    workers.push(await startWorker(env, [], { holdGeneration: true }));
    const thread = (await api(server!.url, token, 'POST', '/threads', { ai_version_code: 'stablediffusion_text2img' })).json.data.guid;
    const stream = await follow(thread);
    const before = (await api(server!.url, token, 'GET', '/account')).json.data.credits;
    const created = await api(server!.url, token, 'POST', `/threads/${thread}/entry`, REQUEST);
    await stream.next((e) => e.event === 'started', 60_000);
    const res = await api(server!.url, token, 'POST', `/threads/${thread}/entries/${created.json.data.guid}/cancel`);
    assert.equal(res.status, 202, JSON.stringify(res.json));
    const cancelled = await stream.next((e) => e.event === 'cancelled', 60_000);
    assert.equal(cancelled.data.response.status, 'cancelled');
    assert.deepEqual(cancelled.data.response.content, []);
    assert.equal((await api(server!.url, token, 'GET', '/account')).json.data.credits, before);
    await workers.pop()!.stop();
  });
});
