/**
 * The published tutorial, end to end: `sdapi serve` as the README starts it, a token from the CLI, and the
 * unmodified seed client (test/fixtures/seed_client.py, the published tutorial client) run with python3.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { projectRoot } from '../../src/config/project-root.ts';
import { readTextChunks } from '../../src/services/generation/png-text.ts';
import { api, cli, e2eModelEnv, freePort, run, startServe, type ServerProcess } from '../helpers/e2e.ts';

const CLIENT = resolve(projectRoot, 'test/fixtures/seed_client.py');

describe('seed client against a fresh install', () => {
  let dataDir: string;
  let server: ServerProcess | undefined;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'sdapi-e2e-'));
    env = { SDAPI_DATA_DIR: dataDir, ...e2eModelEnv() };
  });
  after(async () => {
    await server?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('CLI: users create, tokens create (token only on stdout), bad input exits 2 with one line', async () => {
    const created = await cli(['users', 'create', '--email', 'seed@example.com', '--password', 'correct horse battery', '--credits', '100'], env);
    assert.equal(created.code, 0, created.stderr);
    const token = await cli(['tokens', 'create', '--email', 'seed@example.com', '--application', 'Seed client'], env);
    assert.equal(token.code, 0, token.stderr);
    assert.match(token.stdout, /^sdapi_[A-Za-z0-9_-]{20,}\n$/);
    const again = await cli(['tokens', 'create', '--email', 'seed@example.com', '--application', 'Seed client'], env);
    assert.notEqual(again.stdout, token.stdout);
    for (const args of [
      ['users', 'create', '--email', 'not-an-email', '--password', 'correct horse battery'],
      ['users', 'create', '--email', 'seed@example.com', '--password', 'correct horse battery'],
      ['users', 'create', '--email', 'x@example.com'],
      ['users', 'create', '--email', 'y@example.com', '--password', 'correct horse battery', '--credits', '-5'],
      ['tokens', 'create', '--email', 'nobody@example.com', '--application', 'x'],
      ['tokens', 'create', '--email', 'seed@example.com'],
      ['frobnicate'],
    ]) {
      const res = await cli(args, env);
      assert.equal(res.code, 2, `${args.join(' ')}: ${res.stderr}`);
      assert.equal(res.stdout, '');
      assert.equal(res.stderr.trim().split('\n').length >= 1, true);
      assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace');
    }
  });

  it('the unmodified seed client gets two 1024×1024 PNGs and their JPEG thumbnails', async (t) => {
    const python = await run('python3', ['-c', 'import requests'], {}).catch(() => ({ code: 1 }));
    if (python.code !== 0) return t.skip('python3 with requests is not available');

    const token = (await cli(['tokens', 'create', '--email', 'seed@example.com', '--application', 'Seed client'], env)).stdout.trim();
    const port = await freePort();
    // The tutorial's client, polling once a second, works within the default rate limit.
    server = await startServe({ ...env, SDAPI_RATE_LIMIT: '150/10s' }, port);
    const client = await run('python3', [CLIENT], { SDAPI_URL: server.url, SDAPI_TOKEN: token, SDAPI_WAIT_S: '300' }, 360_000);
    assert.equal(client.code, 0, `seed client failed:\n${client.stdout}\n${client.stderr}\nserver:\n${server.output()}`);
    const fetched = client.stdout.split('\n').filter((l) => /^(url|thumbnail_url) /.test(l));
    assert.equal(fetched.length, 4, client.stdout);
    assert.equal(fetched.filter((l) => l.includes(' image/png ')).length, 2);
    assert.equal(fetched.filter((l) => l.includes(' image/jpeg ')).length, 2);

    const threads = await api(server.url, token, 'GET', '/threads');
    const guid = threads.json.data[0].guid;
    const entries = (await api(server.url, token, 'GET', `/threads/${guid}/entries`)).json.data;
    assert.deepEqual(entries.map((e: { type: string }) => e.type), ['request', 'response']);
    assert.equal(entries[0].waiting_response, false);
    assert.equal(entries[1].credits, 10);
    for (const item of entries[1].content) {
      assert.ok(item.url.startsWith(`${server.url}/storage/stablediffusion_text2img/`));
      const png = Buffer.from(await (await fetch(item.url)).arrayBuffer());
      const meta = await sharp(png).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], ['png', 1024, 1024]);
      assert.equal(png.length, item.filesize);
      assert.match(readTextChunks(png).parameters, /^Delorean hacking time\nNegative prompt: Clock\nSteps: 45, /);
      const thumb = Buffer.from(await (await fetch(item.thumbnail_url)).arrayBuffer());
      const tmeta = await sharp(thumb).metadata();
      assert.equal(tmeta.format, 'jpeg');
      assert.equal(Math.max(tmeta.width ?? 0, tmeta.height ?? 0), 256);
    }
    const account = await api(server.url, token, 'GET', '/account');
    assert.equal(account.json.data.credits, 90);
  });
});
