import assert from 'node:assert/strict';
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { EngineError } from '../../src/engine/errors.ts';
import { maskFromAlpha } from '../../src/engine/pipeline/mask.ts';
import { createNoise } from '../../src/engine/noise/index.ts';
import { initSample } from '../../src/engine/pipeline/image2image.ts';
import { encodeImage, maskSample, sampleLatents } from '../../src/engine/pipeline/vae-encode.ts';
import { decodeLatents, toRgb } from '../../src/engine/pipeline/vae.ts';
import type { StableDiffusionPipeline } from '../../src/engine/pipeline/text2img.ts';
import { EngineThread } from '../../src/engine/thread/engine-thread.ts';
import type { GenerateOptions, InitImage, MaskImage, RgbImage } from '../../src/engine/types.ts';
import { copyTiny, loadRecorded, tiny } from './pipeline-helpers.ts';

const W = 64;
const H = 48;

/** A 64×48 test picture: colour ramps with a few hard edges, so both smooth and sharp content go through the VAE. */
function picture(): RgbImage {
  const rgb = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const o = (y * W + x) * 3;
      rgb[o] = (x * 4) & 255;
      rgb[o + 1] = (y * 5) & 255;
      rgb[o + 2] = x > 20 && x < 44 && y > 10 && y < 30 ? 240 : 60;
    }
  }
  return { width: W, height: H, rgb };
}

/** 255 (repaint) inside the block-aligned rectangle x ∈ [16, 40), y ∈ [8, 32), 0 elsewhere. */
function rectangleMask(): MaskImage {
  const data = new Uint8Array(W * H);
  for (let y = 8; y < 32; y++) for (let x = 16; x < 40; x++) data[y * W + x] = 255;
  return { width: W, height: H, data };
}

const inRectangle = (x: number, y: number): boolean => x >= 16 && x < 40 && y >= 8 && y < 32;

function base(init: InitImage, over: Partial<GenerateOptions> = {}): GenerateOptions {
  return { prompts: [{ text: 'a red box', weight: 1 }], width: W, height: H, steps: 20, cfgScale: 7.5, seed: 11, images: 1, init, ...over };
}

/** Mean absolute difference per channel value, over the pixels `where` selects. */
function meanDiff(a: Uint8Array, b: Uint8Array, where: (x: number, y: number) => boolean = () => true): number {
  let total = 0;
  let n = 0;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      if (!where(x, y)) continue;
      for (let c = 0; c < 3; c++) total += Math.abs(a[(y * W + x) * 3 + c] - b[(y * W + x) * 3 + c]);
      n += 3;
    }
  }
  return total / n;
}

function maxDiff(a: Uint8Array, b: Uint8Array, where: (x: number, y: number) => boolean): number {
  let max = 0;
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if (where(x, y)) for (let c = 0; c < 3; c++) max = Math.max(max, Math.abs(a[(y * W + x) * 3 + c] - b[(y * W + x) * 3 + c]));
  return max;
}

/**
 * The VAE round trip of the init image with the request's generator: decode(sample(encode(image))). This is what a
 * perfect denoiser gives back, so it is the baseline for "nearly the init image".
 */
async function roundTrip(pipeline: StableDiffusionPipeline, image: RgbImage, seed: number, masked?: Float32Array): Promise<Uint8Array> {
  const model = pipeline.loaded;
  let sample = initSample({ image, strength: 1 }, W, H);
  if (masked) sample = maskSample(sample, masked);
  const encoded = await encodeImage(await model.loadVaeEncoder(), sample, W, H, 8);
  const latents = sampleLatents(encoded, createNoise('torch', seed), model.vae.scalingFactor);
  return toRgb(await decodeLatents(model.vae, latents, [1, 4, H / 8, W / 8]), W, H);
}

/**
 * Tiny sd1 with the block autoencoder of sd1-inpaint (each latent cell = its 8×8 block's mean colour, decoded back as
 * flat blocks): random-weight VAEs scramble images, this one keeps them, so "the init image within the round-trip
 * error" can be read in pixels. Its encoder has the latent_parameters convention.
 */
function sd1WithBlockVae(): { dir: string; cleanup: () => void } {
  const copy = copyTiny('sd1');
  for (const part of ['vae_encoder', 'vae_decoder']) {
    rmSync(join(copy.dir, part), { recursive: true });
    cpSync(join(tiny('sd1-inpaint'), part), join(copy.dir, part), { recursive: true });
  }
  return copy;
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

describe('image-to-image', () => {
  it("Stability image_strength 0.95 (strength 0.05, one of 20 steps) gives back nearly the init image's VAE round trip", async () => {
    const { dir, cleanup } = sd1WithBlockVae();
    const { pipeline, recorder } = await loadRecorded(dir);
    try {
      const image = picture();
      const baseline = await roundTrip(pipeline, image, 11);
      const boxError = meanDiff(baseline, image.rgb);
      assert.ok(boxError < 20, `the block VAE keeps the picture up to its 8×8 box average (${boxError.toFixed(2)} levels)`);
      for (const sampler of ['euler', 'ddim', 'dpmpp_2m_karras'] as const) {
        recorder.clear();
        const near = (await pipeline.generate(base({ image, strength: 0.05 }, { sampler }))).images[0].rgb;
        assert.equal(recorder.of('unet').length, 1, `${sampler}: one denoising step`);
        const far = (await pipeline.generate(base({ image, strength: 1 }, { sampler }))).images[0].rgb;
        const nearDiff = meanDiff(near, baseline);
        const farDiff = meanDiff(far, baseline);
        assert.ok(nearDiff < 6, `${sampler}: strength 0.05 is ${nearDiff.toFixed(2)} levels from the round trip`);
        assert.ok(farDiff > 40, `${sampler}: strength 1 repaints (${farDiff.toFixed(2)} levels away)`);
      }
    } finally {
      await pipeline.dispose();
      cleanup();
    }
  });

  it('feeds the UNet the strength\'s part of the schedule: Euler 20 steps at 0.3 → 6 steps from 262.89; PNDM repeats as diffusers', async () => {
    const { pipeline, recorder } = await loadRecorded(tiny('sd1'));
    try {
      const progress: string[] = [];
      await pipeline.generate(base({ image: picture(), strength: 0.3 }, { sampler: 'euler', onProgress: (p) => progress.push(`${p.step}/${p.steps}`) }));
      const timesteps = recorder.of('unet').map((r) => (r.feeds.timestep.data as Float32Array)[0]);
      assert.deepEqual(timesteps.map((t) => Number(t.toFixed(2))), [262.89, 210.32, 157.74, 105.16, 52.58, 0]);
      assert.deepEqual(progress, ['1/6', '2/6', '3/6', '4/6', '5/6', '6/6']);
      recorder.clear();
      await pipeline.generate(base({ image: picture(), strength: 0.05 })); // the model's PNDM
      assert.deepEqual(recorder.of('unet').map((r) => (r.feeds.timestep.data as Float32Array)[0]), [51, 1]);
      // The encoder ran once, at the generation size.
      assert.deepEqual(recorder.of('vae_encoder')[0].feeds.sample.dims, [1, 3, H, W]);
    } finally {
      await pipeline.dispose();
    }
  });

  it('stretches an init image of another size to the generation size with Lanczos before encoding', async () => {
    const { pipeline, recorder } = await loadRecorded(tiny('sdxl'));
    try {
      const small = { width: 20, height: 10, rgb: new Uint8Array(20 * 10 * 3).fill(200) };
      await pipeline.generate(base({ image: small, strength: 0.5 }, { steps: 4 }));
      const fed = recorder.of('vae_encoder')[0].feeds.sample;
      assert.deepEqual(fed.dims, [1, 3, H, W]);
      const expected = Math.fround(2 * Math.fround(200 / 255) - 1);
      assert.ok((fed.data as Float32Array).every((v) => v === expected), 'a flat image stays flat');
    } finally {
      await pipeline.dispose();
    }
  });

  it('is reproducible: the same request gives the same bytes, and image i equals a single request with seed + i', async () => {
    const { pipeline, recorder } = await loadRecorded(tiny('sdxl'));
    try {
      const init = { image: picture(), strength: 0.6 };
      const pair = (await pipeline.generate(base(init, { images: 2, sampler: 'euler_a', steps: 5 }))).images;
      assert.equal(recorder.of('vae_encoder').length, 1, 'the init image is encoded once per request');
      const again = (await pipeline.generate(base(init, { images: 2, sampler: 'euler_a', steps: 5 }))).images;
      const second = (await pipeline.generate(base(init, { seed: 12, sampler: 'euler_a', steps: 5 }))).images[0];
      assert.ok(sameBytes(pair[0].rgb, again[0].rgb) && sameBytes(pair[1].rgb, again[1].rgb));
      assert.ok(sameBytes(pair[1].rgb, second.rgb));
      assert.ok(!sameBytes(pair[0].rgb, pair[1].rgb));
      assert.deepEqual(pair.map((i) => i.seed), [11, 12]);
    } finally {
      await pipeline.dispose();
    }
  });

  it('keeps SDXL micro-conditioning at the generation size: time_ids [H, W, 0, 0, H, W]', async () => {
    const { pipeline, recorder } = await loadRecorded(tiny('sdxl'));
    try {
      await pipeline.generate(base({ image: { width: 32, height: 32, rgb: new Uint8Array(32 * 32 * 3) }, strength: 0.5 }, { steps: 2 }));
      assert.deepEqual(Array.from(recorder.of('unet')[0].feeds.time_ids.data as Float32Array), [H, W, 0, 0, H, W, H, W, 0, 0, H, W]);
    } finally {
      await pipeline.dispose();
    }
  });

  it("LCM takes the strength into its schedule (diffusers' LCM img2img): 4 steps at 0.5 → 499, 379, 259, 139", async () => {
    const { pipeline, recorder } = await loadRecorded(tiny('lcm'));
    try {
      await pipeline.generate(base({ image: picture(), strength: 0.5 }, { steps: 4, cfgScale: 8.5 }));
      assert.deepEqual(recorder.of('unet').map((r) => (r.feeds.timestep.data as Float32Array)[0]), [499, 379, 259, 139]);
    } finally {
      await pipeline.dispose();
    }
  });

  it('reports progress per evaluation, makes previews and stops on cancel', async () => {
    const { pipeline, recorder } = await loadRecorded(tiny('sd1'));
    try {
      const previews: number[] = [];
      const controller = new AbortController();
      await assert.rejects(
        pipeline.generate(
          base({ image: picture(), strength: 0.5 }, {
            sampler: 'euler',
            signal: controller.signal,
            preview: { intervalMs: 0, onPreview: (p) => previews.push(p.step) },
            onProgress: (p) => p.step === 3 && controller.abort(),
          }),
        ),
        (err: unknown) => err instanceof EngineError && err.code === 'cancelled',
      );
      assert.equal(recorder.of('unet').length, 3);
      assert.deepEqual(previews, [1, 2, 3]);
      assert.equal(recorder.of('vae_decoder').length, 0);
    } finally {
      await pipeline.dispose();
    }
  });
});

describe('inpainting', () => {
  it('with a 4-channel UNet, the unmasked region comes back as the init image within the VAE round trip (blend at every step)', async () => {
    const { dir, cleanup } = sd1WithBlockVae();
    const { pipeline } = await loadRecorded(dir);
    try {
      const image = picture();
      const baseline = await roundTrip(pipeline, image, 11);
      for (const [sampler, strength] of [['euler', 1], ['euler_a', 0.75], ['pndm', 0.6], ['lms', 1]] as const) {
        const out = (await pipeline.generate(base({ image, strength, mask: rectangleMask() }, { sampler }))).images[0].rgb;
        // Kept latents end as the image latents exactly; this VAE decodes each cell on its own.
        assert.equal(maxDiff(out, baseline, (x, y) => !inRectangle(x, y)), 0, `${sampler}: kept region`);
        assert.ok(meanDiff(out, baseline, inRectangle) > 20, `${sampler}: repainted region is new`);
      }
    } finally {
      await pipeline.dispose();
      cleanup();
    }
  });

  it('with a 4-channel UNet and a random VAE (tiny sdxl), the latents decoded keep the image latents outside the mask', async () => {
    const { pipeline, recorder } = await loadRecorded(tiny('sdxl'));
    try {
      const image = picture();
      await pipeline.generate(base({ image, strength: 0.8, mask: rectangleMask() }, { steps: 6 }));
      const model = pipeline.loaded;
      const encoded = await encodeImage(await model.loadVaeEncoder(), initSample({ image, strength: 1 }, W, H), W, H, 8);
      const imageLatents = sampleLatents(encoded, createNoise('torch', 11), model.vae.scalingFactor);
      const decoded = recorder.of('vae_decoder')[0].feeds.latent_sample.data as Float32Array;
      const scale = Math.fround(model.vae.scalingFactor);
      for (let c = 0; c < 4; c++) {
        for (let y = 0; y < H / 8; y++) {
          for (let x = 0; x < W / 8; x++) {
            const i = c * 48 + y * 8 + x;
            const kept = Math.fround(imageLatents[i] / scale);
            if (inRectangle(x * 8, y * 8)) assert.notEqual(decoded[i], kept, `repainted cell ${i}`);
            else assert.equal(decoded[i], kept, `kept cell ${i}`);
          }
        }
      }
    } finally {
      await pipeline.dispose();
    }
  });

  it('with the 9-channel inpainting model, the unmasked region comes back as the init image within the VAE round trip', async () => {
    const { pipeline } = await loadRecorded(tiny('sd1-inpaint'));
    try {
      const image = picture();
      const mask = rectangleMask();
      const baseline = await roundTrip(pipeline, image, 11);
      for (const [sampler, strength] of [['euler', 1], ['dpmpp_2m_karras', 0.7], ['euler_a', 1]] as const) {
        const out = (await pipeline.generate(base({ image, strength, mask }, { sampler }))).images[0].rgb;
        // The model predicts the masked image's latents there (its idealised wiring); their sample differs from the
        // image's by one std of 9e-4 (a tenth of a level), and the sampler's arithmetic adds a little more.
        assert.ok(maxDiff(out, baseline, (x, y) => !inRectangle(x, y)) <= 1, `${sampler}: kept region within one level`);
        assert.ok(meanDiff(out, baseline, inRectangle) > 20, `${sampler}: repainted region is new`);
      }
    } finally {
      await pipeline.dispose();
    }
  });

  it("feeds the 9-channel UNet [latents, mask, masked-image latents] in diffusers' order, the same for both CFG rows", async () => {
    const { pipeline, recorder } = await loadRecorded(tiny('sd1-inpaint'));
    try {
      const image = picture();
      const mask = rectangleMask();
      await pipeline.generate(base({ image, strength: 1, mask }, { steps: 2, sampler: 'euler' }));
      // Strength 1 starts from noise: only the masked image is encoded (image × (mask < 0.5)).
      const encoded = recorder.of('vae_encoder');
      assert.equal(encoded.length, 1);
      const pixels = Float32Array.from({ length: W * H }, (_, p) => (inRectangle(p % W, Math.floor(p / W)) ? 1 : 0));
      assert.deepEqual(encoded[0].feeds.sample.data, maskSample(initSample({ image, strength: 1 }, W, H), pixels));
      const sample = recorder.of('unet')[0].feeds.sample;
      assert.deepEqual(sample.dims, [2, 9, H / 8, W / 8]);
      const data = sample.data as Float32Array;
      const plane = (W / 8) * (H / 8);
      const row = 9 * plane;
      assert.deepEqual(data.subarray(0, row), data.subarray(row, 2 * row), 'both CFG rows');
      const latentMask = data.subarray(4 * plane, 5 * plane);
      assert.deepEqual(Array.from(latentMask), Array.from({ length: plane }, (_, i) => (inRectangle((i % 8) * 8, Math.floor(i / 8) * 8) ? 1 : 0)));
      // The masked-image latents: that encoder output sampled with the generator's second draw (after the noise).
      const noise = createNoise('torch', 11);
      noise.randn(4 * plane);
      const encoder = await pipeline.loaded.loadVaeEncoder();
      const maskedEncoded = await encodeImage(encoder, maskSample(initSample({ image, strength: 1 }, W, H), pixels), W, H, 8);
      assert.deepEqual(data.subarray(5 * plane, 9 * plane), sampleLatents(maskedEncoded, noise, pipeline.loaded.vae.scalingFactor));
    } finally {
      await pipeline.dispose();
    }
  });

  it("an RGBA init image's transparent pixels are repainted like an explicit mask (INIT_IMAGE_ALPHA)", async () => {
    const { pipeline } = await loadRecorded(tiny('sd1-inpaint'));
    try {
      const image = picture();
      const mask = rectangleMask();
      const rgba = new Uint8Array(W * H * 4);
      for (let p = 0; p < W * H; p++) {
        rgba.set(image.rgb.subarray(p * 3, p * 3 + 3), p * 4);
        rgba[p * 4 + 3] = 255 - mask.data[p];
      }
      const split = maskFromAlpha({ width: W, height: H, data: rgba });
      const fromAlpha = (await pipeline.generate(base({ ...split, strength: 0.8 }, { steps: 4, sampler: 'euler' }))).images[0].rgb;
      const explicit = (await pipeline.generate(base({ image, mask, strength: 0.8 }, { steps: 4, sampler: 'euler' }))).images[0].rgb;
      assert.ok(sameBytes(fromAlpha, explicit));
    } finally {
      await pipeline.dispose();
    }
  });

  it('the mask blur acts before binarisation: a sharp 1-pixel line repaints its cells, blurred with σ 3 it repaints none', async () => {
    const { pipeline, recorder } = await loadRecorded(tiny('sd1-inpaint'));
    try {
      const image = picture();
      // Column 24 holds the top-left pixels of latent column 3, so the sharp line reaches the latent mask.
      const line = new Uint8Array(W * H);
      for (let y = 0; y < H; y++) line[y * W + 24] = 255;
      const mask = { width: W, height: H, data: line };
      await pipeline.generate(base({ image, strength: 1, mask }, { steps: 1, sampler: 'euler' }));
      await pipeline.generate(base({ image, strength: 1, mask, maskBlur: 3 }, { steps: 1, sampler: 'euler' }));
      const plane = (W / 8) * (H / 8);
      const repainted = (run: number): number => (recorder.of('unet')[run].feeds.sample.data as Float32Array).subarray(4 * plane, 5 * plane).filter((v) => v === 1).length;
      assert.equal(repainted(0), H / 8);
      // Blurred, the line peaks at 255 × 0.133 (the centre weight of a σ-3 kernel), below the 50 % threshold.
      assert.equal(repainted(1), 0);
    } finally {
      await pipeline.dispose();
    }
  });
});

describe('requests image-to-image cannot run', () => {
  const image = picture();

  it('are invalid_argument with a message naming the field, before any model runs', async () => {
    const { pipeline, recorder } = await loadRecorded(tiny('sd1'));
    try {
      const bad: Array<[Partial<InitImage>, RegExp]> = [
        [{ strength: 1.5 }, /^Cannot generate image-to-image: strength must be a number in \[0, 1\], got 1\.5$/],
        [{ strength: -0.1 }, /strength must be a number in \[0, 1\], got -0\.1$/],
        [{ strength: Number.NaN }, /strength must be a number in \[0, 1\], got NaN$/],
        [{ strength: 0.04 }, /^Cannot generate image-to-image: the strength leaves no denoising step .*, got int\(20 × 0\.04\) = 0$/],
        [{ image: { width: W, height: H, rgb: new Uint8Array(10) } }, /init\.image\.rgb must be a Uint8Array of width × height × 3 = 9216 bytes \(8-bit RGB\), got 10 bytes$/],
        [{ image: { width: 0, height: H, rgb: new Uint8Array(0) } }, /init\.image width and height must be integers >= 1, got 0×48$/],
        [{ mask: { width: 32, height: 32, data: new Uint8Array(1024) } }, /^Cannot inpaint: init\.mask must have the init image's size 64×48, got 32×32$/],
        [{ mask: { width: W, height: H, data: new Uint8Array(5) } }, /^Cannot inpaint: init\.mask\.data must be a Uint8Array of width × height = 3072 bytes .*, got 5 bytes$/],
        [{ mask: rectangleMask(), maskBlur: 100 }, /^Cannot inpaint: init\.maskBlur must be a number of pixels in \[0, 64\], got 100$/],
      ];
      for (const [over, message] of bad) {
        await assert.rejects(pipeline.generate(base({ image, strength: 0.5, ...over })), (err: unknown) => {
          assert.ok(err instanceof EngineError, String(err));
          assert.equal(err.code, 'invalid_argument');
          assert.match(err.message, message);
          return true;
        });
      }
      assert.equal(recorder.runs.length, 0);
    } finally {
      await pipeline.dispose();
    }
  });

  it('LCM needs int(original_inference_steps × strength) to cover its steps', async () => {
    const { pipeline } = await loadRecorded(tiny('lcm'));
    try {
      await assert.rejects(pipeline.generate(base({ image, strength: 0.05 }, { steps: 4 })), /^EngineError: Cannot generate image-to-image with the LCM sampler: .*, got int\(50 × 0\.05\) = 2$/);
    } finally {
      await pipeline.dispose();
    }
  });

  it('a model without vae_encoder/model.onnx cannot do image-to-image or inpainting', async () => {
    const { dir, cleanup } = copyTiny('sd1');
    rmSync(join(dir, 'vae_encoder'), { recursive: true });
    const { pipeline, recorder } = await loadRecorded(dir);
    try {
      assert.equal(pipeline.manifest.vaeEncoder, undefined);
      await assert.rejects(pipeline.generate(base({ image, strength: 0.5 })), /^EngineError: Cannot generate image-to-image with .*: the model has no VAE encoder \(vae_encoder\/model\.onnx\), which image-to-image needs/);
      await assert.rejects(pipeline.generate(base({ image, strength: 0.5, mask: rectangleMask() })), (err: unknown) => err instanceof EngineError && err.code === 'invalid_argument' && /^Cannot inpaint with .*: the model has no VAE encoder/.test(err.message));
      assert.equal(recorder.runs.length, 0);
    } finally {
      await pipeline.dispose();
      cleanup();
    }
  });

  it('a 9-channel inpainting model needs a mask', async () => {
    const { pipeline } = await loadRecorded(tiny('sd1-inpaint'));
    try {
      await assert.rejects(pipeline.generate(base({ image, strength: 0.5 })), /^EngineError: Cannot generate image-to-image with .*: its UNet is an inpainting UNet \(9 input channels\), which needs init\.mask$/);
      const { init: _none, ...textOnly } = base({ image, strength: 1 });
      await assert.rejects(pipeline.generate(textOnly), /inpainting UNet \(9 input channels\); pass init with a mask/);
    } finally {
      await pipeline.dispose();
    }
  });
});

describe('EngineThread with an init image', () => {
  it('gives the in-process images and transfers the init buffers to the worker', async () => {
    const thread = new EngineThread({ threads: 1 });
    try {
      const make = (): InitImage => ({ image: picture(), strength: 0.7, mask: rectangleMask() });
      const init = make();
      const options = { ...base(init, { steps: 4, sampler: 'euler' as const }) };
      const { images } = await thread.generate(tiny('sd1-inpaint'), options);
      assert.equal(init.image.rgb.length, 0, 'the image buffer was transferred (detached here)');
      assert.equal(init.mask?.data.length, 0, 'the mask buffer was transferred');
      const { pipeline } = await loadRecorded(tiny('sd1-inpaint'));
      try {
        const local = (await pipeline.generate(base(make(), { steps: 4, sampler: 'euler' }))).images[0];
        assert.ok(sameBytes(images[0].rgb, local.rgb));
      } finally {
        await pipeline.dispose();
      }
      // A view into a larger buffer is copied, not transferred.
      const pooled = new Uint8Array(W * H * 3 + 16);
      pooled.set(picture().rgb, 16);
      const view = pooled.subarray(16);
      await thread.generate(tiny('sd1-inpaint'), base({ image: { width: W, height: H, rgb: view }, strength: 0.7, mask: rectangleMask() }, { steps: 2 }));
      assert.equal(view.length, W * H * 3);
    } finally {
      await thread.close();
    }
  });
});
