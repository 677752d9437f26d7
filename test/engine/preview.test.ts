import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EngineError } from '../../src/engine/errors.ts';
import { loadModel, onnxSessionsCreated, type GenerateOptions, type PreviewImage } from '../../src/engine/index.ts';
import { Previewer, projectLatents, rgbPlanesToPicture, SD_LATENT_RGB, SDXL_LATENT_RGB } from '../../src/engine/pipeline/preview.ts';
import { DdimScheduler, EulerDiscreteScheduler, PndmScheduler } from '../../src/engine/schedulers/index.ts';
import { EngineThread } from '../../src/engine/thread/engine-thread.ts';
import { tiny } from './pipeline-helpers.ts';

const f32 = Math.fround;
const base = (over: Partial<GenerateOptions> = {}): GenerateOptions => ({
  prompts: [{ text: 'a cat', weight: 1 }],
  width: 64,
  height: 48,
  steps: 3,
  cfgScale: 7.5,
  seed: 5,
  images: 1,
  ...over,
});

test('the linear preview projects each latent pixel with the published per-family factors and bias', () => {
  // Two pixels (CHW): pixel 0 = latent channel 0 only, pixel 1 = channel 3 only; rgb byte = round((v + 1) / 2 · 255).
  const latents = Float32Array.of(1, 0, 0, 0, 0, 0, 0, 1);
  const sd = projectLatents(latents, 1, 2, SD_LATENT_RGB);
  assert.deepEqual([sd.width, sd.height], [2, 1]);
  // SD row 0 = (0.3512, 0.2297, 0.3227) → 172.3, 156.8, 168.6; row 3 = (−0.2120, −0.2616, −0.7177) → 100.5, 94.1, 36.0.
  assert.deepEqual(Array.from(sd.rgb), [172, 157, 169, 100, 94, 36]);
  // SDXL zero latents show the bias (0.1084, −0.0175, −0.0011) → 141.3, 125.3, 127.4.
  assert.deepEqual(Array.from(projectLatents(new Float32Array(4), 1, 1, SDXL_LATENT_RGB).rgb), [141, 125, 127]);
  assert.deepEqual(Array.from(rgbPlanesToPicture(Float32Array.of(-1, 0, 3), 1, 1).rgb), [0, 128, 255]);
});

test('previews stay at the latent grid size up to 256 px and are box-averaged below that, never upscaled', () => {
  const grid = (h: number, w: number, value: number) => new Float32Array(4 * h * w).fill(value);
  const small = projectLatents(grid(6, 8, 0), 6, 8, SD_LATENT_RGB);
  assert.deepEqual([small.width, small.height, small.rgb.length], [8, 6, 8 * 6 * 3]);
  const big = projectLatents(grid(300, 600, 0.5), 300, 600, SD_LATENT_RGB); // 4800×2400 px image
  assert.deepEqual([big.width, big.height], [200, 100]);
  assert.deepEqual(Array.from(big.rgb.subarray(0, 3)), Array.from(projectLatents(grid(1, 1, 0.5), 1, 1, SD_LATENT_RGB).rgb));
  // Box averaging: a 2×1 block of −1 and +1 in every plane averages to 0.
  const planes = new Float32Array(3 * 257).map((_, i) => (i % 2 === 0 ? -1 : 1));
  const averaged = rgbPlanesToPicture(planes, 1, 257);
  assert.deepEqual([averaged.width, averaged.height], [128, 1]);
  assert.ok(averaged.rgb.every((v) => v === 128));
});

test('a request gets at most one preview per intervalMs', async () => {
  let now = 1000;
  const shown: PreviewImage[] = [];
  const previewer = new Previewer({ loadVaeApprox: async () => undefined, unet: {} }, { intervalMs: 100, onPreview: (p) => shown.push(p) }, () => now);
  now = 1099;
  assert.equal(previewer.due(), false);
  now = 1100;
  assert.equal(previewer.due(), true);
  await previewer.emit(new Float32Array(4), [1, 4, 1, 1], { image: 0, step: 3, steps: 10 });
  assert.equal(previewer.due(), false, 'the interval restarts after a preview');
  now = 1199;
  assert.equal(previewer.due(), false);
  now = 1200;
  assert.equal(previewer.due(), true);
  assert.deepEqual(shown.map((p) => [p.image, p.step, p.steps, p.width, p.height]), [[0, 3, 10, 1, 1]]);
});

test('schedulers return their x0 prediction as `denoised` (diffusers pred_original_sample), which previews show', () => {
  const config = { beta_schedule: 'scaled_linear' as const, beta_start: 0.00085, beta_end: 0.012, steps_offset: 1 };
  const x = Float32Array.of(0.5, -1.25);
  const eps = Float32Array.of(0.25, 0.75);
  const noise = { randn: (n: number) => new Float32Array(n) };
  const euler = new EulerDiscreteScheduler(config, 4);
  const sigma = euler.sigmas[0];
  assert.deepEqual(Array.from(euler.step(eps, 0, x, noise).denoised ?? []), [f32(0.5 - f32(sigma * 0.25)), f32(-1.25 - f32(sigma * 0.75))]);
  for (const scheduler of [new DdimScheduler(config, 4), new PndmScheduler({ ...config, skip_prk_steps: true }, 4)]) {
    const a = scheduler.alphasCumprod[scheduler.timesteps[0]];
    const sa = f32(Math.sqrt(a));
    const sb = f32(Math.sqrt(f32(1 - a)));
    const expected = Array.from(x, (xi, i) => f32(f32(xi - f32(sb * eps[i])) / sa));
    assert.deepEqual(Array.from(scheduler.step(eps, 0, x, noise).denoised ?? []), expected, scheduler.constructor.name);
  }
});

test('generate() makes previews at the latent grid size between steps, without changing the image', async () => {
  const pipeline = await loadModel(tiny('sd1'), { threads: 1 });
  try {
    const shown: PreviewImage[] = [];
    const withPreviews = await pipeline.generate(base({ images: 2, preview: { intervalMs: 0, onPreview: (p) => shown.push(p) } }));
    // PNDM evaluates the UNet steps + 1 times; one preview after each, for each image.
    assert.deepEqual(shown.map((p) => `${p.image}:${p.step}/${p.steps}`), ['0:1/4', '0:2/4', '0:3/4', '0:4/4', '1:1/4', '1:2/4', '1:3/4', '1:4/4']);
    for (const p of shown) {
      assert.deepEqual([p.width, p.height, p.rgb.length, p.rgb.buffer.byteLength], [8, 6, 8 * 6 * 3, 8 * 6 * 3]);
    }
    assert.notDeepEqual(shown[0].rgb, shown[3].rgb, 'previews follow the denoising');
    assert.ok(withPreviews.timings.previewMs > 0);
    const without = await pipeline.generate(base({ images: 2 }));
    assert.deepEqual(withPreviews.images.map((i) => i.rgb), without.images.map((i) => i.rgb));
    assert.equal(without.timings.previewMs, 0);
    // An interval longer than the request: no preview at all.
    const none: PreviewImage[] = [];
    await pipeline.generate(base({ preview: { intervalMs: 3_600_000, onPreview: (p) => none.push(p) } }));
    assert.equal(none.length, 0);
    await assert.rejects(
      pipeline.generate(base({ preview: { intervalMs: -1, onPreview: () => {} } })),
      (err: unknown) => err instanceof EngineError && err.code === 'invalid_argument' && /preview\.intervalMs/.test(err.message),
    );
  } finally {
    await pipeline.dispose();
  }
});

test('a folder with vae_approx/model.onnx previews through it, opening it on the first preview only', async () => {
  const pipeline = await loadModel(tiny('lcm'), { threads: 1 });
  try {
    const shown: PreviewImage[] = [];
    const before = onnxSessionsCreated();
    await pipeline.generate(base({ steps: 2, preview: { intervalMs: 0, onPreview: (p) => shown.push(p) } }));
    assert.equal(onnxSessionsCreated() - before, 1, 'vae_approx opened once');
    // The tiny approx decoder upsamples 2×: 8×6 latents → 16×12 previews (the projection would give 8×6).
    assert.deepEqual(shown.map((p) => [p.step, p.width, p.height, p.rgb.length]), [[1, 16, 12, 576], [2, 16, 12, 576]]);
    await pipeline.generate(base({ steps: 1, preview: { intervalMs: 0, onPreview: () => {} } }));
    assert.equal(onnxSessionsCreated() - before, 1, 'and reused');
  } finally {
    await pipeline.dispose();
  }
});

test('previews cross the EngineThread boundary with their own transferred pixel buffers', async () => {
  const thread = new EngineThread({ threads: 1 });
  try {
    const shown: PreviewImage[] = [];
    let progress = 0;
    const { images, timings } = await thread.generate(tiny('sdxl'), { ...base(), width: 64, height: 32 }, {
      onProgress: () => progress++,
      preview: { intervalMs: 0, onPreview: (p) => shown.push(p) },
    });
    assert.equal(images.length, 1);
    assert.equal(shown.length, progress);
    assert.ok(timings.unetMs > 0 && timings.previewMs > 0);
    for (const p of shown) {
      assert.ok(p.rgb instanceof Uint8Array);
      assert.deepEqual([p.width, p.height, p.rgb.buffer.byteLength], [8, 4, 8 * 4 * 3]);
    }
  } finally {
    await thread.close();
  }
});
