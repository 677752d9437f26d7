/**
 * kill -9 of the worker while it delivers webhooks: every event still reaches the receiver (at least once, the one in
 * flight again with the same webhook-id), and a receiver that drops repeated ids sees each event exactly once.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load-config.ts';
import { openStore, type Store } from '../../src/store/database.ts';
import { api, cli, e2eModelEnv, freePort, startServe, startWorker, type ServerProcess, type WorkerProcess } from '../helpers/e2e.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.ts';

describe('webhooks across a worker killed mid-delivery', () => {
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  let receiver: WebhookReceiver;
  const processes: (ServerProcess | WorkerProcess)[] = [];

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'sdapi-webhook-crash-'));
    // A short job lease: a vanished worker's jobs are taken over after 2 s, its deliveries after 15 s (the minimum).
    env = { SDAPI_DATA_DIR: dataDir, SDAPI_WEBHOOK_ALLOW_HOSTS: '127.0.0.1', SDAPI_JOB_LEASE_MS: '2000', ...e2eModelEnv() };
    receiver = await startWebhookReceiver();
  });
  after(async () => {
    for (const p of processes) await p.kill9();
    await receiver.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('every event arrives at least once, and exactly once after dropping repeated webhook-ids', { timeout: 300_000 }, async () => {
    assert.equal((await cli(['users', 'create', '--email', 'w@example.com', '--password', 'correct horse battery', '--credits', '50'], env)).code, 0);
    const token = (await cli(['tokens', 'create', '--email', 'w@example.com', '--application', 'hooks'], env)).stdout.trim();

    // The API (no workers) takes three requests that want both events, then stops: only the worker will deliver.
    const server = await startServe({ ...env, SDAPI_WORKERS: '0' }, await freePort());
    processes.push(server);
    const entries: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const thread = (await api(server.url, token, 'POST', '/threads', { ai_version_code: 'stablediffusion_text2img' })).json.data.guid;
      const created = await api(server.url, token, 'POST', `/threads/${thread}/entry`, {
        engine: 'stable-diffusion-v1-6',
        resolution: '512x512',
        prompts: [{ text: `shape ${i}`, weight: 1 }],
        images: 1,
        steps: 10,
        webhook: receiver.url,
        webhook_events_filter: ['start', 'completed'],
      });
      assert.equal(created.status, 201, JSON.stringify(created.json));
      entries.push(created.json.data.guid);
    }
    await server.stop();

    // First worker: the receiver takes each request and never answers; kill -9 the worker while one is in flight.
    receiver.answer = () => 'hold';
    const first = await startWorker(env);
    processes.push(first);
    await receiver.seen(1);
    await first.kill9();
    const inFlight = new Set(receiver.received.map((h) => String(h.headers['webhook-id'])));
    assert.ok(inFlight.size >= 1);

    // Second worker: finishes what the first left (jobs and deliveries) while the receiver answers 200.
    receiver.answer = () => 200;
    const second = await startWorker(env);
    processes.push(second);
    const store: Store = await openStore(loadConfig({ SDAPI_DATA_DIR: dataDir }).databaseUrl);
    try {
      const until = Date.now() + 240_000;
      for (;;) {
        const rows = await store.db.selectFrom('webhook_deliveries').select(['id', 'status', 'event_type', 'entry_id']).execute();
        if (rows.length === 6 && rows.every((r) => r.status === 'delivered')) break;
        assert.ok(Date.now() < until, `deliveries: ${JSON.stringify(rows)}\n${second.output()}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const rows = await store.db.selectFrom('webhook_deliveries').select(['id', 'event_type', 'entry_id']).execute();
      const received = receiver.received.map((h) => ({ id: String(h.headers['webhook-id']), type: h.json.type as string, entry: h.json.data.guid as string }));
      // At least once: every event of every entry reached the receiver, each under its delivery's id.
      for (const row of rows) assert.ok(received.some((r) => r.id === row.id), `event ${row.id} never arrived`);
      // The delivery in flight at the kill was sent again, with the same webhook-id.
      for (const id of inFlight) assert.ok(received.filter((r) => r.id === id).length >= 2, `${id} was not sent again`);
      // A receiver that drops repeated ids sees each event exactly once: a start and a completion per entry.
      const seen = new Map<string, { type: string; entry: string }>();
      for (const r of received) if (!seen.has(r.id)) seen.set(r.id, r);
      assert.equal(seen.size, 6);
      assert.deepEqual([...seen.values()].map((e) => `${e.entry}:${e.type}`).sort(), entries.flatMap((e) => [`${e}:entry.completed`, `${e}:entry.started`]).sort());
    } finally {
      await store.close();
    }
    await second.stop();
  });
});
