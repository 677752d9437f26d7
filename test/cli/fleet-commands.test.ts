/**
 * The fleet from the command line, as an operator runs it: start-up checks that stop `serve` and `worker` with exit
 * 2 and one line per problem, `sdapi engines check`, strict devices, `sdapi generate` with a registry engine, and
 * an API process with two engines whose workers each serve one (separate processes on one SQLite database).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { projectRoot } from '../../src/config/project-root.ts';
import { inspectModel } from '../../src/engine/index.ts';
import { readTextChunks } from '../../src/services/generation/png-text.ts';
import { api, cli, freePort, startServe, startWorker, type ServerProcess, type WorkerProcess } from '../helpers/e2e.ts';

const tiny = (name: string) => join(projectRoot, 'models/tiny', name);
const demo = join(projectRoot, 'models/demo');
const SD1 = { id: 'tiny-sd1', model: tiny('sd1'), aliases: ['stable-diffusion-v1-5'], steps: { min: 1, default: 2 }, resolutions: ['64x64', '48x32'] };
const XL = { id: 'tiny-xl', model: tiny('sdxl'), steps: { min: 1, default: 1 }, cfg_scale: { default: 0 }, resolutions: ['128x128'] };

/** stderr as lines, each `sdapi <command>: …`, and no stack trace. */
function problemLines(stderr: string, command: string): string[] {
  // The database announcement (`sdapi: using database …`, `sdapi: read settings from …`) is not a problem line.
  const lines = stderr.trimEnd().split('\n').filter((line) => !/^sdapi: (using database|read settings from) /.test(line));
  for (const line of lines) assert.ok(line.startsWith(`sdapi ${command}: `), `one-line problems only: ${stderr}`);
  assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
  return lines;
}

describe('fleet commands', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const registry = async (name: string, body: unknown): Promise<string> => {
    const path = join(dir, name);
    await writeFile(path, typeof body === 'string' ? body : JSON.stringify(body));
    return path;
  };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sdapi-fleet-cli-'));
    env = { SDAPI_DATA_DIR: join(dir, 'data'), PORT: '0', LOG_LEVEL: 'warn' };
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('a broken registry or model folder stops serve and worker with exit 2 and one line per problem', async () => {
    const broken = await registry('broken.json', { engines: [{ ...SD1, colour: 'red' }, { id: 'gone', model: 'no-such-model' }] });
    const served = await cli(['serve', '--engines', broken], env);
    assert.equal(served.code, 2, served.stderr);
    assert.deepEqual(problemLines(served.stderr, 'serve'), [
      `sdapi serve: ${broken}: engine "tiny-sd1" (engines[0]): unknown key "colour"`,
      `sdapi serve: ${broken}: engine "gone": model ${join(dir, 'no-such-model')}: Cannot open model: folder not found, got ${join(dir, 'no-such-model')}`,
    ]);
    const notJson = await registry('not-json.json', '{"engines": [');
    const worker = await cli(['worker'], { ...env, SDAPI_ENGINES: notJson });
    assert.equal(worker.code, 2);
    assert.match(problemLines(worker.stderr, 'worker')[0], new RegExp(`^sdapi worker: ${notJson}: the engine registry is not valid JSON \\(`));
    // Without a registry: a broken SDAPI_MODEL_DIR is one problem for the default engines.
    const noModel = await cli(['serve'], { ...env, SDAPI_MODEL_DIR: join(dir, 'missing') });
    assert.equal(noModel.code, 2);
    assert.equal(problemLines(noModel.stderr, 'serve').length, 1);
    assert.match(noModel.stderr, /engines "stable-diffusion-xl-1024-v1-0", .* "sdapi-demo-shapes": model .*missing: Cannot open model: folder not found/);
    // The database was never touched: the checks run before anything starts.
    await assert.rejects(readFile(join(dir, 'data', 'sdapi.db')));
  });

  it('sdapi engines check: the report, a table per engine and the runtime; exit 0 when ready, 2 otherwise', async () => {
    const good = await registry('good.json', { engines: [SD1, XL, { id: 'turbo', model: tiny('sd1'), family: 'sd-turbo', device: 'cuda' }] });
    const ok = await cli(['engines', 'check', '--engines', good], env);
    assert.equal(ok.code, 0, ok.stderr);
    const lines = ok.stdout.trimEnd().split('\n');
    assert.equal(lines[0], `${good}: 3 engines, all ready`);
    assert.match(lines[1], /^ID\s+ALIASES\s+MODEL\s+FAMILY\s+NATIVE\s+MULTIPLE\s+SIZES\s+STEPS\s+CFG\s+SAMPLERS\s+UPSCALE\s+DEVICE$/);
    assert.match(lines[2], new RegExp(`^tiny-sd1\\s+stable-diffusion-v1-5\\s+${tiny('sd1')}\\s+sd1\\s+64x64\\s+8\\s+2\\s+1-150 \\(2\\)\\s+0-35 \\(7\\)\\s+euler,\\S+ \\(pndm\\)\\s+no\\s+cpu$`));
    assert.match(lines[3], /^tiny-xl\s+-\s+\S+\s+sdxl\s+128x128\s+8\s+1\s+1-150 \(1\)\s+0-35 \(0\)/);
    assert.match(lines[4], /^turbo\s+.*\s+sd-turbo\s+64x64\s+8\s+9\s+1-4 \(1\)\s+0-35 \(0\)\s+.*\s+no\s+(cpu \(asked cuda:0\)|cuda:0)$/);
    assert.match(lines[5], /^node v\d+\.\d+\.\d+, onnxruntime-node \d+\.\d+\.\d+, execution providers: cpu \(bundled\)/);
    if (lines[4].includes('asked')) assert.match(ok.stderr, /^sdapi engines check: warning: .*no CUDA execution provider.*turbo \(cuda:0\) run on the CPU instead$/m);

    // A size off the demo model's latent multiple (read from its manifest: the model may be retrained).
    const m = (await inspectModel(demo)).latentMultiple;
    const off = `${m * 4 + m / 2}x${m * 4}`;
    const bad = await registry('bad.json', { engines: [SD1, { id: 'sd', model: demo, resolutions: [off] }] });
    const failed = await cli(['engines', 'check'], { ...env, SDAPI_ENGINES: bad });
    assert.equal(failed.code, 2);
    assert.deepEqual(problemLines(failed.stderr, 'engines check'), [
      `sdapi engines check: ${bad}: engine "sd": resolution ${off} is not a multiple of ${m} px, the latent multiple of ${demo} (use sizes that are, or "upscale": true)`,
    ]);
    assert.match(failed.stdout, new RegExp(`^${bad}: 1 engine, 1 problem\nID `));
  });

  it('SDAPI_DEVICE_STRICT=1 with a GPU this install cannot use refuses to start a worker (exit 2)', async (t) => {
    const check = await cli(['engines', 'check', '--device', 'cuda'], { ...env, SDAPI_ENGINES: await registry('one.json', { engines: [SD1] }) });
    if (!check.stdout.includes('asked cuda:0')) return t.skip('this install has the CUDA provider');
    const strict = await cli(['worker', '--device', 'cuda:0'], { ...env, SDAPI_ENGINES: join(dir, 'one.json'), SDAPI_DEVICE_STRICT: '1' });
    assert.equal(strict.code, 2, strict.stderr);
    assert.match(problemLines(strict.stderr, 'worker')[0], /^sdapi worker: engine "tiny-sd1": device cuda:0 is not available: this onnxruntime-node .* has no CUDA execution provider .*SDAPI_DEVICE_STRICT=1/);
  });

  it('sdapi generate --engines FILE --engine ID plans the size as the engine does', async () => {
    const file = await registry('generate.json', { engines: [SD1, { id: 'demo-up', model: demo, upscale: true, resolutions: ['100x60'] }] });
    const out = join(dir, 'alias.png');
    const byAlias = await cli(['generate', '--engines', file, '--engine', 'stable-diffusion-v1-5', '--prompt', 'a cat', '--seed', '3', '--output', out], env);
    assert.equal(byAlias.code, 0, byAlias.stderr);
    const meta = await sharp(out).metadata();
    assert.deepEqual([meta.width, meta.height], [64, 64], "the engine's first size");
    const up = join(dir, 'up.png');
    const upscaled = await cli(['generate', '--engines', file, '--engine', 'demo-up', '--prompt', 'a red circle', '--steps', '2', '--seed', '1', '--output', up], env);
    assert.equal(upscaled.code, 0, upscaled.stderr);
    assert.match(upscaled.stderr, /^sdapi generate: generating \d+x\d+ \(the model's native area\) and resizing to 100x60/m);
    const upMeta = await sharp(up).metadata();
    assert.deepEqual([upMeta.width, upMeta.height], [100, 60]);
    const m = (await inspectModel(demo)).latentMultiple;
    const native = await cli(['generate', '--model', demo, '--prompt', 'x', '--width', String(m * 4 + m / 2), '--height', String(m * 4), '--native'], env);
    assert.equal(native.code, 2);
    assert.match(problemLines(native.stderr, 'generate')[0], new RegExp(`must be multiples of ${m} `));
  });

  describe('engines split across worker processes', () => {
    let server: ServerProcess | undefined;
    const workers: WorkerProcess[] = [];
    after(async () => {
      for (const w of workers) await w.stop();
      await server?.stop();
    });

    it('a worker with one engine never takes the other engine’s job; a worker that serves it does', async () => {
      const both = await registry('both.json', { engines: [SD1, XL] });
      const sd1Only = await registry('sd1.json', { engines: [SD1] });
      const xlOnly = await registry('xl.json', { engines: [XL] });
      const port = await freePort();
      const shared = { SDAPI_DATA_DIR: join(dir, 'split'), SDAPI_PUBLIC_URL: `http://127.0.0.1:${port}` };
      assert.equal((await cli(['users', 'create', '--email', 'split@example.com', '--password', 'correct horse battery', '--credits', '50'], shared)).code, 0);
      const token = (await cli(['tokens', 'create', '--email', 'split@example.com', '--application', 'split'], shared)).stdout.trim();
      server = await startServe({ ...shared, SDAPI_WORKERS: '0', SDAPI_ENGINES: both }, port);
      const request = async (engine: string, resolution: string) => {
        const thread = (await api(server!.url, token, 'POST', '/threads', { ai_version_code: 'stablediffusion_text2img' })).json.data.guid as string;
        const created = await api(server!.url, token, 'POST', `/threads/${thread}/entry`, { engine, resolution, prompts: [{ text: 'a cat', weight: 1 }] });
        assert.equal(created.status, 201, JSON.stringify(created.json));
        return thread;
      };
      const entries = async (thread: string) => (await api(server!.url, token, 'GET', `/threads/${thread}/entries`)).json.data as Record<string, any>[];
      const response = async (thread: string) => {
        for (const deadline = Date.now() + 120_000; ; ) {
          const list = await entries(thread);
          if (list.length === 2) return list[1];
          assert.ok(Date.now() < deadline, `no response: ${JSON.stringify(list)}\n${workers.map((w) => w.output()).join('\n')}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      };
      const xlThread = await request('tiny-xl', '128x128');
      const sd1Thread = await request('stable-diffusion-v1-5', '48x32');

      workers.push(await startWorker({ ...shared, SDAPI_ENGINES: sd1Only }));
      const sd1 = await response(sd1Thread);
      assert.equal(sd1.status, 'done', sd1.error);
      const sd1Png = Buffer.from(await (await fetch(sd1.content[0].url)).arrayBuffer());
      assert.match(readTextChunks(sd1Png).parameters, /Size: 48x32, Model: sd1$/);
      assert.deepEqual(
        (await entries(xlThread)).map((e) => e.status),
        ['queued'],
      );
      const listed = async () => (await api(server!.url, token, 'GET', '/engines')).json.data as Record<string, any>[];
      for (const deadline = Date.now() + 10_000; (await listed())[0].workers !== 1; ) {
        assert.ok(Date.now() < deadline, 'the SD1 worker shows in GET /engines');
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.deepEqual(
        (await listed()).map((e) => [e.id, e.workers, e.queued, e.device]),
        [
          ['tiny-sd1', 1, 0, 'cpu'],
          ['tiny-xl', 0, 1, null],
        ],
      );

      workers.push(await startWorker({ ...shared, SDAPI_ENGINES: xlOnly }, ['--lazy']));
      const xl = await response(xlThread);
      assert.equal(xl.status, 'done', xl.error);
      const xlPng = Buffer.from(await (await fetch(xl.content[0].url)).arrayBuffer());
      assert.match(readTextChunks(xlPng).parameters, /Size: 128x128, Model: sdxl$/);
    });
  });
});
