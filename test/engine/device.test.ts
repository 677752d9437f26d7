import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { EngineError } from '../../src/engine/errors.ts';
import { describeRuntime, loadModel, onnxSessionsOpen, parseDevice } from '../../src/engine/index.ts';
import { EngineThread } from '../../src/engine/thread/engine-thread.ts';
import { tiny } from './pipeline-helpers.ts';

const cudaInstalled = describeRuntime().providers.some((p) => p.name === 'cuda' && p.installed);
const noCuda = cudaInstalled ? 'this install has the CUDA provider' : false;
const request = { prompts: [{ text: 'a cat', weight: 1 }], width: 16, height: 16, steps: 2, cfgScale: 7.5, seed: 1, images: 1 };

test('devices are cpu, cuda (= cuda:0) or cuda:N; anything else is invalid_argument', async () => {
  assert.deepEqual(parseDevice('cpu'), { provider: 'cpu' });
  assert.deepEqual(parseDevice('cuda'), { provider: 'cuda', deviceId: 0 });
  assert.deepEqual(parseDevice('cuda:3'), { provider: 'cuda', deviceId: 3 });
  for (const bad of ['gpu', 'cuda:', 'cuda:x', 'CUDA', 'cuda:-1']) {
    assert.throws(() => parseDevice(bad), (err: unknown) => err instanceof EngineError && err.code === 'invalid_argument' && err.message.includes(JSON.stringify(bad)), bad);
  }
  await assert.rejects(loadModel(tiny('sd1'), { device: 'tpu' as 'cpu' }), (err: unknown) => err instanceof EngineError && err.code === 'invalid_argument');
});

test('describeRuntime lists the execution providers of this install and the onnxruntime-node version', () => {
  const runtime = describeRuntime();
  const pkg = JSON.parse(readFileSync(join(dirname(createRequire(import.meta.url).resolve('onnxruntime-node')), '..', 'package.json'), 'utf8')) as { version: string };
  assert.equal(runtime.onnxruntimeNode, pkg.version);
  assert.deepEqual(runtime.providers.find((p) => p.name === 'cpu'), { name: 'cpu', bundled: true, installed: true });
  if (process.platform === 'linux' && process.arch === 'x64') {
    const cuda = runtime.providers.find((p) => p.name === 'cuda');
    const bin = join(dirname(createRequire(import.meta.url).resolve('onnxruntime-node')), '..', 'bin', 'napi-v6', 'linux', 'x64');
    assert.deepEqual(cuda, { name: 'cuda', bundled: false, installed: existsSync(join(bin, 'libonnxruntime_providers_cuda.so')) });
  }
});

test('requesting cuda without the CUDA provider warns once, generates on CPU and reports device cpu', { skip: noCuda }, async () => {
  const messages: string[] = [];
  const pipeline = await loadModel(tiny('sdxl'), { device: 'cuda', threads: 1, logger: (m) => messages.push(m) });
  try {
    assert.equal(pipeline.device, 'cpu');
    assert.equal(pipeline.info.device, 'cpu');
    const { images } = await pipeline.generate(request);
    assert.equal(images[0].rgb.length, 16 * 16 * 3);
    // Four sessions were opened, one warning was given.
    assert.equal(messages.length, 1, messages.join(' | '));
    assert.match(messages[0], /^CUDA execution provider unavailable, using CPU instead \(cuda:0: /);
  } finally {
    await pipeline.dispose();
  }
});

test('with strictDevice a missing CUDA provider is EngineError device_unavailable, and nothing stays loaded', { skip: noCuda }, async () => {
  const open = onnxSessionsOpen();
  const messages: string[] = [];
  await assert.rejects(loadModel(tiny('sd1'), { device: 'cuda:1', strictDevice: true, threads: 1, logger: (m) => messages.push(m) }), (err: unknown) => {
    assert.ok(err instanceof EngineError);
    assert.equal(err.code, 'device_unavailable');
    assert.match(err.message, /^Cannot use device cuda:1: the CUDA execution provider failed \(/);
    return true;
  });
  assert.deepEqual(messages, []);
  assert.equal(onnxSessionsOpen(), open);
});

test('EngineThread reports the device actually used and forwards the single fallback warning', { skip: noCuda }, async () => {
  const messages: string[] = [];
  const thread = new EngineThread({ device: 'cuda', threads: 1, logger: (m) => messages.push(m) });
  try {
    assert.equal((await thread.preload(tiny('sd1'))).device, 'cpu');
    assert.equal((await thread.generate(tiny('sd1'), request)).images.length, 1);
    assert.equal(messages.filter((m) => /CUDA execution provider unavailable/.test(m)).length, 1);
  } finally {
    await thread.close();
  }
  const strict = new EngineThread({ device: 'cuda', strictDevice: true, threads: 1 });
  try {
    await assert.rejects(strict.preload(tiny('sd1')), (err: unknown) => err instanceof EngineError && err.code === 'device_unavailable');
    assert.deepEqual(await strict.loadedModels(), []);
  } finally {
    await strict.close();
  }
});
