/**
 * A first run as the README tells it, from a folder of one's own with a .env in it: `sdapi users create` and
 * `sdapi tokens create` say which settings file and database they use, `sdapi serve` started in the same folder
 * uses the same ones (so the token works), and our tutorial client (examples/tutorial_client.py) does the
 * tutorial's four steps against it.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, e2eModelEnv, freePort } from '../helpers/e2e.ts';
import { projectRoot } from '../../src/config/project-root.ts';

const TUTORIAL_CLIENT = join(projectRoot, 'examples/tutorial_client.py');

/** The environment without anything sdapi reads, so only the folder's .env configures it. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(SDAPI_|DATABASE_URL$|PORT$|HOST$|LOG_)/.test(k)) env[k] = v;
  return env;
}

describe('first run: .env, the CLI and the server agree; the tutorial client works', () => {
  let dir: string;
  let port: number;
  let server: ChildProcess | undefined;
  let serverLog = '';
  let token = '';

  const sdapi = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { cwd: dir, env: cleanEnv(), encoding: 'utf8', timeout: 120_000 });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sdapi-first-run-'));
    port = await freePort();
    const model = e2eModelEnv().SDAPI_MODEL_DIR;
    writeFileSync(join(dir, '.env'), [`PORT=${port}`, 'SDAPI_DATA_DIR=./my-data', 'LOG_LEVEL=warn', ...(model ? [`SDAPI_MODEL_DIR=${model}`] : [])].join('\n') + '\n');
  });

  after(async () => {
    if (server && server.exitCode === null) {
      const exited = new Promise((r) => server!.once('exit', r));
      server.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (server.exitCode === null) server.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('the CLI reads the folder’s .env and says which database it uses, on stderr', () => {
    const created = sdapi('users', 'create', '--email', 'first@example.com', '--password', 'a-long-password', '--credits', '50');
    assert.equal(created.status, 0, created.stderr);
    const database = `sqlite:${join(dir, 'my-data', 'sdapi.db')}`;
    assert.match(created.stderr, new RegExp(`^sdapi: read settings from ${join(dir, '.env')}$`, 'm'));
    assert.match(created.stderr, new RegExp(`^sdapi: using database ${database}$`, 'm'));
    assert.ok(existsSync(join(dir, 'my-data', 'sdapi.db')), 'the database is where .env says');
    const tokens = sdapi('tokens', 'create', '--email', 'first@example.com', '--application', 'tutorial');
    assert.equal(tokens.status, 0, tokens.stderr);
    assert.match(tokens.stderr, new RegExp(`^sdapi: using database ${database}$`, 'm'));
    token = tokens.stdout.trim();
    assert.match(token, /^sdapi_[\w-]{40,}$/, 'only the token on stdout');
  });

  it('`sdapi serve` in the same folder uses the same database: the token works', { timeout: 120_000 }, async () => {
    server = spawn(process.execPath, [BIN, 'serve'], { cwd: dir, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    server.stdout?.on('data', (d) => (serverLog += d));
    server.stderr?.on('data', (d) => (serverLog += d));
    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 90_000;
    for (;;) {
      assert.equal(server.exitCode, null, `the server exited:\n${serverLog}`);
      try {
        const res = await fetch(`${base}/healthz`);
        await res.arrayBuffer(); // an unread body keeps its connection busy, and holds the server's stop
        if (res.ok) break;
      } catch {
        // not listening yet
      }
      assert.ok(Date.now() < deadline, `the server did not start:\n${serverLog}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.match(serverLog, new RegExp(`sdapi: using database sqlite:${join(dir, 'my-data', 'sdapi.db')}`));
    const account = await fetch(`${base}/api/v1/account`, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });
    assert.equal(account.status, 200);
    assert.deepEqual(((await account.json()) as { data: unknown }).data, { email: 'first@example.com', credits: 50, priority: 'normal', max_running: 2, max_queued: 20, running: 0, queued: 0 });
  });

  it('examples/tutorial_client.py does the tutorial’s four steps', { timeout: 600_000 }, (t) => {
    if (spawnSync('python3', ['-c', 'import requests']).status !== 0) {
      t.skip('python3 with requests is not available (apt-get install python3-requests): the tutorial client was not run');
      return;
    }
    const out = join(dir, 'images');
    const run = spawnSync('python3', [TUTORIAL_CLIENT], {
      cwd: dir,
      env: { ...cleanEnv(), SDAPI_URL: `http://127.0.0.1:${port}`, SDAPI_TOKEN: token, SDAPI_OUT: out, SDAPI_WAIT_S: '540' },
      encoding: 'utf8',
      timeout: 580_000,
    });
    assert.equal(run.status, 0, `tutorial client failed:\n${run.stdout}\n${run.stderr}\n${serverLog}`);
    assert.match(run.stdout, /^thread [0-9a-f-]{36}: New thread with Stable Diffusion Image Generation$/m);
    assert.match(run.stdout, /^request [0-9a-f-]{36}: queued, 10 credits reserved$/m);
    assert.match(run.stdout, /^response [0-9a-f-]{36}: 2 images, 10 credits$/m);
    assert.equal((run.stdout.match(/^saved .*\.png \(1024x1024, seed \d+, \d+ bytes\)$/gm) ?? []).length, 2);
    assert.equal(readdirSync(out).filter((f) => f.endsWith('.png')).length, 2);
    // Without a token it says what to do.
    const bare = spawnSync('python3', [TUTORIAL_CLIENT], { cwd: dir, env: cleanEnv(), encoding: 'utf8' });
    assert.equal(bare.status, 2);
    assert.match(bare.stderr, /SDAPI_TOKEN/);
  });
});
