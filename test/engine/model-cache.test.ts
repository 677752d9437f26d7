import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EngineError } from '../../src/engine/errors.ts';
import { inspectModel } from '../../src/engine/index.ts';
import { EngineThread } from '../../src/engine/thread/engine-thread.ts';
import { ModelCache } from '../../src/engine/thread/model-cache.ts';
import { tiny } from './pipeline-helpers.ts';

class FakeModel {
  constructor(
    readonly name: string,
    private readonly disposed: string[],
  ) {}

  async dispose(): Promise<void> {
    this.disposed.push(this.name);
  }
}

test('the model cache unloads least recently used models first when a new one would exceed the budget', async () => {
  const disposed: string[] = [];
  const loads: string[] = [];
  const cache = new ModelCache<FakeModel>(100);
  const get = (name: string, bytes: number) =>
    cache.get(name, async () => bytes, async () => {
      loads.push(name);
      return new FakeModel(name, disposed);
    });
  await get('a', 60);
  await get('b', 30);
  await get('a', 60); // a is now the most recently used
  assert.deepEqual(await cache.keys(), ['b', 'a']);
  await get('c', 40); // 60 + 30 + 40 > 100: b goes, a stays
  assert.deepEqual([await cache.keys(), disposed, cache.usedBytes()], [['a', 'c'], ['b'], 100]);
  await get('d', 500); // larger than the whole budget: everything else goes, d loads alone
  assert.deepEqual([await cache.keys(), disposed], [['d'], ['b', 'a', 'c']]);
  assert.deepEqual(loads, ['a', 'b', 'c', 'd'], 'a cached model is not loaded again');
  // A folder that cannot even be sized (missing, broken) fails before anything is unloaded.
  await assert.rejects(cache.get('e', async () => Promise.reject(new Error('no such folder')), async () => new FakeModel('e', disposed)), /no such folder/);
  assert.deepEqual(await cache.keys(), ['d']);
  await cache.clear();
  assert.deepEqual([await cache.keys(), disposed.at(-1)], [[], 'd']);
  // A failed load is not kept, so a retry loads again.
  await assert.rejects(cache.get('f', async () => 1, async () => Promise.reject(new Error('broken'))), /broken/);
  assert.deepEqual(await cache.keys(), []);
  assert.equal((await cache.get('f', async () => 1, async () => new FakeModel('f', disposed))).name, 'f');
});

test('without a budget the cache keeps every model', async () => {
  const cache = new ModelCache<FakeModel>();
  for (const name of ['a', 'b', 'c']) await cache.get(name, async () => 1e12, async () => new FakeModel(name, []));
  assert.deepEqual(await cache.keys(), ['a', 'b', 'c']);
});

test('EngineThread keeps tiny models within modelMemoryBytes, least recently used out first', async () => {
  const [sd1, sdxl] = await Promise.all([inspectModel(tiny('sd1')), inspectModel(tiny('sdxl'))]);
  const thread = new EngineThread({ threads: 1, modelMemoryBytes: sd1.sizeBytes + sdxl.sizeBytes });
  const small = { prompts: [{ text: 'a cat', weight: 1 }], width: 8, height: 8, steps: 1, cfgScale: 7.5, seed: 1, images: 1 };
  try {
    await thread.preload(tiny('sd1'));
    await thread.preload(tiny('sdxl'));
    assert.deepEqual(await thread.loadedModels(), [tiny('sd1'), tiny('sdxl')]);
    await thread.generate(tiny('sd1'), small); // sd1 becomes the most recently used
    assert.deepEqual(await thread.loadedModels(), [tiny('sdxl'), tiny('sd1')]);
    // lcm does not fit next to both: sdxl (least recently used) is unloaded, sd1 stays.
    await thread.generate(tiny('lcm'), small);
    assert.deepEqual(await thread.loadedModels(), [tiny('sd1'), tiny('lcm')]);
    // A failed preload is reported and changes nothing.
    await assert.rejects(thread.preload(`${tiny('sd1')}-missing`), (err: unknown) => err instanceof EngineError && err.code === 'model_not_found');
    assert.deepEqual(await thread.loadedModels(), [tiny('sd1'), tiny('lcm')]);
  } finally {
    await thread.close();
  }
});

test('EngineThread loads a model larger than the whole budget alone', async () => {
  const thread = new EngineThread({ threads: 1, modelMemoryBytes: 1 });
  try {
    const info = await thread.preload(tiny('sd1'));
    assert.deepEqual([info.family, info.device], ['sd1', 'cpu']);
    assert.deepEqual(await thread.loadedModels(), [tiny('sd1')]);
    await thread.preload(tiny('sdxl'));
    assert.deepEqual(await thread.loadedModels(), [tiny('sdxl')]);
    // inspect() reads the files on the calling thread; it loads nothing.
    assert.equal((await thread.inspect(tiny('lcm'))).family, 'lcm');
    assert.deepEqual(await thread.loadedModels(), [tiny('sdxl')]);
  } finally {
    await thread.close();
  }
});
