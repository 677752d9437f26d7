import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EngineError } from '../../src/engine/errors.ts';
import { loadModel } from '../../src/engine/index.ts';
import { EngineThread, type ThreadGenerateOptions } from '../../src/engine/thread/engine-thread.ts';
import type { GenerationProgress } from '../../src/engine/types.ts';
import { EXIT_AFTER_PROGRESS_WORKER, withWorkerExitAfter } from './exit-after-progress.ts';
import { tiny } from './pipeline-helpers.ts';

const options: ThreadGenerateOptions = {
  prompts: [{ text: 'a cat', weight: 1 }],
  width: 64,
  height: 64,
  steps: 6,
  cfgScale: 7.5,
  seed: 7,
  images: 2,
};

test('EngineThread: same images as in-process, progress crosses, the main loop keeps ticking', async () => {
  const thread = new EngineThread({ threads: 1 });
  try {
    assert.equal((await thread.info(tiny('sd1'))).family, 'sd1');
    const progress: GenerationProgress[] = [];
    const { images } = await thread.generate(tiny('sd1'), options, { onProgress: (p) => progress.push(p) });
    assert.equal(progress.length, 14); // 2 images x (6 + 1) PNDM evaluations
    assert.deepEqual(progress.at(-1), { image: 1, images: 2, step: 7, steps: 7 });

    const local = await loadModel(tiny('sd1'), { threads: 1 });
    try {
      const { images: expected } = await local.generate(options);
      assert.equal(images.length, 2);
      for (let i = 0; i < 2; i++) {
        assert.ok(images[i].rgb instanceof Uint8Array);
        assert.equal(images[i].seed, 7 + i);
        assert.deepEqual(images[i].rgb, expected[i].rgb);
      }
    } finally {
      await local.dispose();
    }
    // The main event loop stays free while the worker runs a long generation: a timer keeps firing between the
    // progress events (counted, not timed, so a loaded machine cannot make this flaky).
    let ticks = 0;
    let eventsWithTicksBefore = 0;
    let ticksAtLastEvent = -1;
    const timer = setInterval(() => ticks++, 1);
    try {
      await thread.generate(tiny('sd1'), { ...options, images: 1, steps: 150 }, {
        onProgress: () => {
          if (ticks > ticksAtLastEvent && ticksAtLastEvent >= 0) eventsWithTicksBefore++;
          ticksAtLastEvent = ticks;
        },
      });
    } finally {
      clearInterval(timer);
    }
    assert.ok(ticks > 0, 'setInterval fired during generation');
    assert.ok(eventsWithTicksBefore > 0, 'timers ran between progress events');
  } finally {
    await thread.close();
  }
});

test('EngineThread: cancellation and error codes cross the thread boundary', async () => {
  const thread = new EngineThread({ threads: 1 });
  try {
    // The abort is sent on the first progress event; with 2 x 501 UNet evaluations the worker is still far from
    // done when the main thread handles that event, so the generation must end as cancelled, not with images.
    const controller = new AbortController();
    let events = 0;
    await assert.rejects(
      thread.generate(tiny('sd1'), { ...options, width: 8, height: 8, steps: 500 }, {
        signal: controller.signal,
        onProgress: () => {
          events++;
          if (events === 1) controller.abort();
        },
      }),
      (err: unknown) => err instanceof EngineError && err.code === 'cancelled',
    );
    assert.ok(events >= 1 && events < 1002, `stopped early (${events} progress events)`);
    await assert.rejects(thread.generate(tiny('sd1'), { ...options, width: 65 }), (err: unknown) => err instanceof EngineError && err.code === 'invalid_argument');
    await assert.rejects(thread.info(`${tiny('sd1')}-missing`), (err: unknown) => err instanceof EngineError && err.code === 'model_not_found');
    const aborted = AbortSignal.abort();
    await assert.rejects(thread.generate(tiny('sd1'), options, { signal: aborted }), (err: unknown) => err instanceof EngineError && err.code === 'cancelled');
    // Still usable after errors.
    assert.equal((await thread.generate(tiny('sd1'), { ...options, images: 1, steps: 1 })).images.length, 1);
  } finally {
    await thread.close();
  }
});

test('EngineThread: a crashed worker rejects the in-flight call (no hang) and later calls fail fast', async () => {
  // A test-only worker (workerUrl) exits abruptly after its first progress event, in the middle of a 500-step generation.
  const thread = await withWorkerExitAfter(1, async () => new EngineThread({ threads: 1, workerUrl: EXIT_AFTER_PROGRESS_WORKER }));
  try {
    let events = 0;
    const running = thread.generate(tiny('sd1'), { ...options, width: 8, height: 8, steps: 500 }, { onProgress: () => events++ });
    await assert.rejects(running, (err: unknown) => err instanceof EngineError && err.code === 'runtime_error' && /exited|crashed/.test(err.message));
    assert.ok(events <= 1, `no progress after the crash (${events} events)`);
    assert.equal(thread.alive, false);
    await assert.rejects(thread.info(tiny('sd1')), (err: unknown) => err instanceof EngineError && err.code === 'runtime_error');
  } finally {
    await thread.close();
  }
});

test('EngineThread: loads each model folder once, reuses it across jobs and releases it on close()', async () => {
  const thread = new EngineThread({ threads: 1 });
  const small = { ...options, width: 8, height: 8, steps: 1, images: 1 };
  const { images: first } = await thread.generate(tiny('sd1'), small);
  // Same folder spelled differently: the same cached pipeline (sessions are created once per model).
  const { images: second } = await thread.generate(`${tiny('sd1')}/`, small);
  assert.deepEqual(first[0].rgb, second[0].rgb);
  assert.deepEqual(await thread.loadedModels(), [tiny('sd1')]);
  await thread.info(tiny('sdxl'));
  assert.deepEqual((await thread.loadedModels()).sort(), [tiny('sd1'), tiny('sdxl')].sort());
  await thread.close();
  await assert.rejects(thread.generate(tiny('sd1'), small), (err: unknown) => err instanceof EngineError && err.code === 'runtime_error');
});

test('EngineThread: an abort stops the worker within one step', async () => {
  const thread = new EngineThread({ threads: 1 });
  try {
    // 256x256 on the tiny model: each UNet call takes tens of ms, far longer than the main thread needs to handle
    // the first progress message and set the shared cancel flag. The worker checks the flag after every step, so
    // it completes at most the step that was running when the flag was set (one slack event for scheduling jitter).
    const controller = new AbortController();
    let events = 0;
    await assert.rejects(
      thread.generate(tiny('sd1'), { ...options, width: 256, height: 256, steps: 40, images: 1 }, {
        signal: controller.signal,
        onProgress: () => {
          events++;
          if (events === 1) controller.abort();
        },
      }),
      (err: unknown) => err instanceof EngineError && err.code === 'cancelled',
    );
    assert.ok(events <= 3, `stopped within one step of the abort (${events} progress events, 41 scheduled)`);
  } finally {
    await thread.close();
  }
});

test('EngineThread: onImage delivers each image as it is done, before the next one starts; a cancel keeps those', async () => {
  const thread = new EngineThread({ threads: 1 });
  try {
    const order: string[] = [];
    const delivered: { index: number; rgb: Uint8Array; seed: number }[] = [];
    const { images } = await thread.generate(tiny('sd1'), { ...options, images: 3 }, {
      onProgress: (p) => {
        if (p.step === 1) order.push(`start ${p.image}`);
      },
      onImage: (image, index) => {
        order.push(`image ${index}`);
        delivered.push({ index, rgb: image.rgb, seed: image.seed });
      },
    });
    assert.deepEqual(order, ['start 0', 'image 0', 'start 1', 'image 1', 'start 2', 'image 2']);
    assert.deepEqual(delivered.map((d) => [d.index, d.seed]), [[0, 7], [1, 8], [2, 9]]);
    for (let i = 0; i < 3; i++) assert.deepEqual(delivered[i].rgb, images[i].rgb, 'the streamed copy equals the result');

    // Cancelled during image 1: the request fails with `cancelled`, and image 0 was already delivered. Many steps, so
    // the cancel (seen by the worker before its next step) lands well before image 1 could finish on a busy machine.
    const controller = new AbortController();
    const kept: number[] = [];
    await assert.rejects(
      thread.generate(tiny('sd1'), { ...options, steps: 40, images: 3 }, {
        signal: controller.signal,
        onProgress: (p) => {
          if (p.image === 1 && p.step === 2) controller.abort();
        },
        onImage: (_image, index) => kept.push(index),
      }),
      (err: unknown) => err instanceof EngineError && err.code === 'cancelled',
    );
    assert.deepEqual(kept, [0]);
  } finally {
    await thread.close();
  }
});
