import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { EngineError } from '../../src/engine/errors.ts';
import { inspectModel } from '../../src/engine/index.ts';
import { EngineThreadGenerator } from '../../src/services/generation/engine-generator.ts';
import { EXIT_AFTER_PROGRESS_WORKER, withWorkerExitAfter } from '../engine/exit-after-progress.ts';

const sd1 = { dir: fileURLToPath(new URL('../../models/tiny/sd1', import.meta.url)), device: 'cpu' as const };
const request = { prompts: [{ text: 'a cat', weight: 1 }], width: 8, height: 8, steps: 50, cfgScale: 7, sampler: 'pndm' as const, seed: 3, images: 1 };

test('EngineThreadGenerator replaces a crashed engine thread, so later jobs still run', async () => {
  // Fault injection: every engine thread this generator starts runs a test-only worker that dies after its third
  // progress event.
  const generator = new EngineThreadGenerator({ threads: 1, workerUrl: EXIT_AFTER_PROGRESS_WORKER });
  try {
    await withWorkerExitAfter(3, async () => {
      await assert.rejects(generator.generate(sd1, request), (err: unknown) => err instanceof EngineError && err.code === 'runtime_error');
      // A fresh thread answers the next call instead of the dead one failing it.
      assert.equal(await generator.preload(sd1), 'cpu');
      const [image] = await generator.generate(sd1, { ...request, steps: 1 });
      assert.equal(image.rgb.length, 8 * 8 * 3);
    });
  } finally {
    await generator.close();
  }
});

test('EngineThreadGenerator keeps recently used models within its memory budget, least recently used out first', async () => {
  const lcm = { dir: fileURLToPath(new URL('../../models/tiny/lcm', import.meta.url)), device: 'cpu' as const };
  const [a, b] = await Promise.all([inspectModel(sd1.dir), inspectModel(lcm.dir)]);
  // Room for either model, not both.
  const generator = new EngineThreadGenerator({ threads: 1, modelMemoryBytes: Math.max(a.sizeBytes, b.sizeBytes) + 1 });
  try {
    await generator.preload(sd1);
    assert.deepEqual(await generator.loadedModels(), { cpu: [sd1.dir] });
    await generator.preload(lcm);
    assert.deepEqual(await generator.loadedModels(), { cpu: [lcm.dir] });
  } finally {
    await generator.close();
  }
  const roomy = new EngineThreadGenerator({ threads: 1, modelMemoryBytes: a.sizeBytes + b.sizeBytes });
  try {
    await roomy.preload(sd1);
    await roomy.preload(lcm);
    await roomy.preload(sd1);
    assert.deepEqual(await roomy.loadedModels(), { cpu: [lcm.dir, sd1.dir] });
  } finally {
    await roomy.close();
  }
});
