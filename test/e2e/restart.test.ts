/** kill -9 while a job runs, restart: the entry completes exactly once and the credits are charged once. */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load-config.ts';
import { openStore } from '../../src/store/database.ts';
import { api, cli, e2eModelEnv, freePort, startServe, type ServerProcess } from '../helpers/e2e.ts';

describe('restart after kill -9', () => {
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  const servers: ServerProcess[] = [];

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'sdapi-restart-'));
    env = { SDAPI_DATA_DIR: dataDir, ...e2eModelEnv() };
  });
  after(async () => {
    for (const s of servers) await s.kill9();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('a job running when the process is killed is finished once after restart', async () => {
    assert.equal((await cli(['users', 'create', '--email', 'r@example.com', '--password', 'correct horse battery', '--credits', '50'], env)).code, 0);
    const token = (await cli(['tokens', 'create', '--email', 'r@example.com', '--application', 'restart'], env)).stdout.trim();
    const port = await freePort();

    // First life: the test entry script holds every generation, so the job stays `running` until we kill it.
    const first = await startServe(env, port, { holdGeneration: true });
    servers.push(first);
    const thread = (await api(first.url, token, 'POST', '/threads', { ai_version_code: 'stablediffusion_text2img' })).json.data.guid;
    const created = await api(first.url, token, 'POST', `/threads/${thread}/entry`, {
      engine: 'stable-diffusion-xl-1024-v0-9',
      resolution: '1024x1024',
      prompts: [{ text: 'Delorean hacking time', weight: 1 }],
      images: 2,
      steps: 45,
    });
    assert.equal(created.status, 201);
    const deadline = Date.now() + 60_000;
    while ((await api(first.url, token, 'GET', `/threads/${thread}/entries`)).json.data[0].status !== 'running') {
      assert.ok(Date.now() < deadline, 'the job never started');
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal((await api(first.url, token, 'GET', '/account')).json.data.credits, 40);
    await first.kill9();

    // Second life: recovers the job left running by the dead process and finishes it.
    const second = await startServe(env, port);
    servers.push(second);
    let entries: any[] = [];
    const until = Date.now() + 300_000;
    for (;;) {
      entries = (await api(second.url, token, 'GET', `/threads/${thread}/entries`)).json.data;
      if (entries.some((e) => e.type === 'response')) break;
      assert.ok(Date.now() < until, `no response after restart: ${second.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(entries.map((e) => e.type), ['request', 'response']);
    assert.equal(entries[1].error, null, entries[1].error);
    assert.equal(entries[1].content.length, 2);
    assert.equal(entries[1].credits, 10);
    assert.equal(entries[0].waiting_response, false);
    assert.equal((await api(second.url, token, 'GET', '/account')).json.data.credits, 40);
    await second.stop();

    const store = await openStore(loadConfig({ SDAPI_DATA_DIR: dataDir }).databaseUrl);
    try {
      const jobs = await store.db.selectFrom('jobs').select(['status', 'attempts']).execute();
      assert.deepEqual(jobs, [{ status: 'done', attempts: 2 }]);
      const responses = await store.db.selectFrom('entries').select('id').where('type', '=', 'response').execute();
      assert.equal(responses.length, 1);
      const ledger = await store.db.selectFrom('credit_ledger').select(['kind', 'amount', 'billed']).where('entry_id', '=', created.json.data.guid).execute();
      assert.deepEqual(ledger.map((l) => `${l.kind}:${l.amount}:${l.billed}`).sort(), ['charge:0:10', 'reserve:-10:10']);
    } finally {
      await store.close();
    }
  });

  it('SIGTERM while a job runs hands it back; the next start finishes it without using up an attempt', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sdapi-sigterm-'));
    const env2 = { ...env, SDAPI_DATA_DIR: dir };
    try {
      assert.equal((await cli(['users', 'create', '--email', 's@example.com', '--password', 'correct horse battery', '--credits', '50'], env2)).code, 0);
      const token = (await cli(['tokens', 'create', '--email', 's@example.com', '--application', 'sigterm'], env2)).stdout.trim();
      const port = await freePort();
      const first = await startServe(env2, port, { holdGeneration: true });
      servers.push(first);
      const thread = (await api(first.url, token, 'POST', '/threads', { ai_version_code: 'stablediffusion_text2img' })).json.data.guid;
      const created = await api(first.url, token, 'POST', `/threads/${thread}/entry`, { engine: 'stable-diffusion-xl-1024-v0-9', resolution: '1024x1024', prompts: [{ text: 'x', weight: 1 }], steps: 10 });
      assert.equal(created.status, 201);
      while ((await api(first.url, token, 'GET', `/threads/${thread}/entries`)).json.data[0].status !== 'running') await new Promise((r) => setTimeout(r, 50));
      await first.stop();
      assert.equal(first.child.exitCode, 0, first.output());

      const second = await startServe(env2, port);
      servers.push(second);
      let entries: any[] = [];
      for (const until = Date.now() + 300_000; !entries.some((e) => e.type === 'response'); ) {
        assert.ok(Date.now() < until, second.output());
        await new Promise((r) => setTimeout(r, 100));
        entries = (await api(second.url, token, 'GET', `/threads/${thread}/entries`)).json.data;
      }
      assert.equal(entries[1].error, null);
      assert.equal((await api(second.url, token, 'GET', '/account')).json.data.credits, 49);
      await second.stop();
      const store = await openStore(loadConfig({ SDAPI_DATA_DIR: dir }).databaseUrl);
      try {
        assert.deepEqual(await store.db.selectFrom('jobs').select(['status', 'attempts']).execute(), [{ status: 'done', attempts: 1 }]);
      } finally {
        await store.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
