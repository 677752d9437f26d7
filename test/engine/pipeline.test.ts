import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EngineError } from '../../src/engine/errors.ts';
import { encodeText } from '../../src/engine/pipeline/conditioning.ts';
import { decodeLatents, toRgb } from '../../src/engine/pipeline/vae.ts';
import { applyCfg } from '../../src/engine/pipeline/guidance.ts';
import { EulerDiscreteScheduler } from '../../src/engine/schedulers/euler.ts';
import type { VaeModel } from '../../src/engine/model/types.ts';
import { STYLE_PRESETS } from '../../src/engine/pipeline/styles.ts';
import { timestepFeed } from '../../src/engine/pipeline/feeds.ts';
import { float32ToHalf, fromHalfBits, halfToFloat32, toHalfBits } from '../../src/engine/runtime/float16.ts';
import type { GenerateOptions } from '../../src/engine/types.ts';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { copyTiny, loadRecorded, tiny } from './pipeline-helpers.ts';

const base = (over: Partial<GenerateOptions> = {}): GenerateOptions => ({
  prompts: [{ text: 'a photograph of an astronaut riding a horse', weight: 1 }],
  width: 64,
  height: 48,
  steps: 3,
  cfgScale: 7.5,
  seed: 42,
  images: 1,
  ...over,
});

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

test('sd1: exact I/O wiring (int32 ids, float timestep [1], CFG batch 2 [neg, pos], VAE per image)', async () => {
  const { pipeline, recorder } = await loadRecorded(tiny('sd1'));
  try {
    const { images: [image] } = await pipeline.generate(base({ prompts: [{ text: 'a cat', weight: 1 }, { text: 'blurry', weight: -1 }] }));
    assert.equal(image.rgb.length, 64 * 48 * 3);
    assert.equal(image.seed, 42);

    const te = recorder.of('text_encoder');
    assert.equal(te.length, 2);
    for (const run of te) assert.deepEqual([run.feeds.input_ids.type, run.feeds.input_ids.dims], ['int32', [1, 77]]);

    const unet = recorder.of('unet');
    assert.equal(unet.length, 4); // PNDM runs the UNet N + 1 times
    const first = unet[0].feeds;
    assert.deepEqual(Object.keys(first).sort(), ['encoder_hidden_states', 'sample', 'timestep']);
    assert.deepEqual([first.sample.type, first.sample.dims], ['float32', [2, 4, 6, 8]]);
    assert.deepEqual([first.timestep.type, first.timestep.dims], ['float32', [1]]);
    assert.deepEqual([first.encoder_hidden_states.type, first.encoder_hidden_states.dims], ['float32', [2, 77, 32]]);
    // PNDM leading timesteps for 3 steps with steps_offset 1: 667, 334, 334, 1 (second one repeated).
    assert.deepEqual(unet.map((r) => Number(r.feeds.timestep.data[0])), [667, 334, 334, 1]);
    // Batch order [negative, positive]: rows equal the separately encoded texts.
    const neg = await encodeText(pipeline.loaded, 'blurry');
    const pos = await encodeText(pipeline.loaded, 'a cat');
    const hidden = first.encoder_hidden_states.data as Float32Array;
    assert.deepEqual(hidden.subarray(0, neg.sequence.length), neg.sequence);
    assert.deepEqual(hidden.subarray(neg.sequence.length), pos.sequence);
    // Both CFG rows get the same latents.
    const sample = first.sample.data as Float32Array;
    assert.deepEqual(sample.subarray(0, 192), sample.subarray(192));

    const vae = recorder.of('vae_decoder');
    assert.equal(vae.length, 1);
    assert.deepEqual([vae[0].feeds.latent_sample.type, vae[0].feeds.latent_sample.dims], ['float32', [1, 4, 6, 8]]);
  } finally {
    await pipeline.dispose();
  }
});

test('sd2-v: int64 ids, int64 timestep [1], empty negative encoded as ""', async () => {
  const { pipeline, recorder } = await loadRecorded(tiny('sd2-v'));
  try {
    await pipeline.generate(base());
    const te = recorder.of('text_encoder');
    assert.deepEqual(te.map((r) => [r.feeds.input_ids.type, r.feeds.input_ids.dims]), [['int64', [1, 77]], ['int64', [1, 77]]]);
    // The second encoding is the empty negative: BOS, EOS, then "!" (id 0) padding.
    const ids = Array.from(te[1].feeds.input_ids.data as BigInt64Array, Number);
    assert.equal(ids[2], 0);
    assert.deepEqual(ids.slice(2), new Array(75).fill(0));
    const unet = recorder.of('unet');
    assert.equal(unet.length, 3); // DDIM
    assert.deepEqual(unet.map((r) => [r.feeds.timestep.type, r.feeds.timestep.dims]), Array(3).fill(['int64', [1]]));
    assert.deepEqual(unet.map((r) => r.feeds.timestep.data[0]), [667n, 334n, 1n]);
    assert.deepEqual(unet[0].feeds.encoder_hidden_states.dims, [2, 77, 48]);
  } finally {
    await pipeline.dispose();
  }
});

test('sdxl: both encoders, concat penultimate states, pooled from encoder 2, time_ids, zero negative', async () => {
  const { pipeline, recorder } = await loadRecorded(tiny('sdxl'));
  try {
    await pipeline.generate(base({ width: 64, height: 32 }));
    // No negative prompt + force_zeros_for_empty_prompt: the positive is the only text encoded.
    assert.equal(recorder.of('text_encoder').length, 1);
    assert.equal(recorder.of('text_encoder_2').length, 1);
    const unet = recorder.of('unet');
    assert.equal(unet.length, 3);
    const f = unet[0].feeds;
    assert.deepEqual(Object.keys(f).sort(), ['encoder_hidden_states', 'sample', 'text_embeds', 'time_ids', 'timestep']);
    assert.deepEqual(f.encoder_hidden_states.dims, [2, 77, 80]);
    assert.deepEqual(f.text_embeds.dims, [2, 40]);
    assert.deepEqual(f.time_ids.dims, [2, 6]);
    assert.deepEqual(Array.from(f.time_ids.data as Float32Array), [32, 64, 0, 0, 32, 64, 32, 64, 0, 0, 32, 64]);
    assert.deepEqual([f.timestep.type, f.timestep.dims], ['int64', [1]]);
    const hidden = f.encoder_hidden_states.data as Float32Array;
    assert.ok(hidden.subarray(0, 77 * 80).every((v) => v === 0), 'negative sequence is zeros');
    assert.ok((f.text_embeds.data as Float32Array).subarray(0, 40).every((v) => v === 0), 'negative pooled is zeros');
    // Positive row = hidden_states.1 of encoder 1 (width 32) ‖ hidden_states.2 of encoder 2 (width 48).
    const pos = await encodeText(pipeline.loaded, 'a photograph of an astronaut riding a horse');
    assert.deepEqual(hidden.subarray(77 * 80), pos.sequence);
    assert.deepEqual((f.text_embeds.data as Float32Array).subarray(40), pos.pooled);

    // An explicit empty negative is encoded, not zeroed (diffusers: negative_prompt="" is encoded).
    recorder.clear();
    await pipeline.generate(base({ width: 64, height: 32, prompts: [{ text: 'a cat', weight: 1 }, { text: '', weight: -1 }] }));
    assert.equal(recorder.of('text_encoder_2').length, 2);
    assert.ok(!(recorder.of('unet')[0].feeds.text_embeds.data as Float32Array).subarray(0, 40).every((v) => v === 0));
  } finally {
    await pipeline.dispose();
  }
});

test('lcm: batch 1 with the guidance embedding, scalar float timestep, LCM timesteps', async () => {
  const { pipeline, recorder } = await loadRecorded(tiny('lcm'));
  try {
    await pipeline.generate(base({ steps: 4, cfgScale: 8.5, prompts: [{ text: 'a cat', weight: 1 }, { text: 'ugly', weight: -1 }] }));
    assert.equal(recorder.of('text_encoder').length, 1, 'LCM does not encode a negative prompt');
    const unet = recorder.of('unet');
    assert.deepEqual(unet.map((r) => Number(r.feeds.timestep.data[0])), [999, 759, 499, 259]);
    for (const r of unet) {
      assert.deepEqual([r.feeds.timestep.type, r.feeds.timestep.dims], ['float32', []]);
      assert.deepEqual(r.feeds.sample.dims, [1, 4, 6, 8]);
      assert.deepEqual(r.feeds.timestep_cond.dims, [1, 256]);
    }
  } finally {
    await pipeline.dispose();
  }
});

test('seeds, negative prompt and cfg all change the image; the same request is byte-identical', async () => {
  const { pipeline, recorder } = await loadRecorded(tiny('sd1'));
  try {
    const a = (await pipeline.generate(base())).images[0].rgb;
    const again = (await pipeline.generate(base())).images[0].rgb;
    assert.ok(sameBytes(a, again), 'same seed gives the same image');
    assert.ok(!sameBytes(a, (await pipeline.generate(base({ seed: 43 }))).images[0].rgb), 'seed changes the image');
    const withNegative = base({ prompts: [...base().prompts, { text: 'blurry', weight: -1 }] });
    assert.ok(!sameBytes(a, (await pipeline.generate(withNegative)).images[0].rgb), 'negative prompt changes the image');
    assert.ok(!sameBytes(a, (await pipeline.generate(base({ cfgScale: 3 }))).images[0].rgb), 'cfg changes the image');
    assert.ok(!sameBytes(a, (await pipeline.generate(base({ style: STYLE_PRESETS[0] }))).images[0].rgb), 'style changes the image');

    recorder.clear();
    const { images: noCfg } = await pipeline.generate(base({ cfgScale: 1 }));
    assert.equal(recorder.of('text_encoder').length, 1, 'cfg <= 1 skips the negative');
    assert.deepEqual(recorder.of('unet')[0].feeds.sample.dims, [1, 4, 6, 8]);
    assert.ok(!sameBytes(a, noCfg[0].rgb));
  } finally {
    await pipeline.dispose();
  }
});

test('image i of a multi-image request equals a single-image request with seed + i', async () => {
  const { pipeline } = await loadRecorded(tiny('sdxl'));
  try {
    const progress: string[] = [];
    const { images: pair } = await pipeline.generate(base({ images: 2, sampler: 'euler_a', onProgress: (p) => progress.push(`${p.image}:${p.step}/${p.steps}`) }));
    assert.deepEqual(progress, ['0:1/3', '0:2/3', '0:3/3', '1:1/3', '1:2/3', '1:3/3']);
    assert.deepEqual(pair.map((i) => i.seed), [42, 43]);
    const { images: second } = await pipeline.generate(base({ seed: 43, sampler: 'euler_a' }));
    assert.ok(sameBytes(pair[1].rgb, second[0].rgb));
    assert.ok(!sameBytes(pair[0].rgb, pair[1].rgb));
  } finally {
    await pipeline.dispose();
  }
});

test('several prompts on one side combine as the |w|-weighted average of their embeddings', async () => {
  const { pipeline, recorder } = await loadRecorded(tiny('sd1'));
  try {
    await pipeline.generate(base({ steps: 1, prompts: [{ text: 'a cat', weight: 3 }, { text: 'a dog', weight: 1 }, { text: 'blurry', weight: -2 }] }));
    const hidden = recorder.of('unet')[0].feeds.encoder_hidden_states.data as Float32Array;
    const cat = await encodeText(pipeline.loaded, 'a cat');
    const dog = await encodeText(pipeline.loaded, 'a dog');
    const n = cat.sequence.length;
    for (let i = 0; i < n; i += 97) {
      assert.equal(hidden[n + i], Math.fround((cat.sequence[i] * 3 + dog.sequence[i] * 1) / 4));
    }
  } finally {
    await pipeline.dispose();
  }
});

test('cancellation stops before the next UNet run', async () => {
  const { pipeline, recorder } = await loadRecorded(tiny('sd1'));
  try {
    const controller = new AbortController();
    await assert.rejects(
      pipeline.generate(base({ steps: 10, signal: controller.signal, onProgress: (p) => p.step === 2 && controller.abort() })),
      (err: unknown) => err instanceof EngineError && err.code === 'cancelled',
    );
    assert.equal(recorder.of('unet').length, 2);
    assert.equal(recorder.of('vae_decoder').length, 0);
  } finally {
    await pipeline.dispose();
  }
});

test('invalid options are invalid_argument', async () => {
  const { pipeline, recorder } = await loadRecorded(tiny('sd1'));
  try {
    const bad: Array<Partial<GenerateOptions>> = [
      { width: 60 },
      { height: 0 },
      { steps: 0 },
      { images: 0 },
      { seed: -1 },
      { cfgScale: Number.NaN },
      { sampler: 'lcm' },
      { prompts: [] },
      { prompts: [{ text: 'only negative', weight: -1 }] },
      { style: 'no-such-style' },
    ];
    for (const over of bad) {
      await assert.rejects(pipeline.generate(base(over)), (err: unknown) => err instanceof EngineError && err.code === 'invalid_argument', JSON.stringify(over));
    }
    assert.equal(recorder.runs.length, 0);
  } finally {
    await pipeline.dispose();
  }
});

test('postprocess rounds half to even like numpy', () => {
  // Find float32 values whose scaled pixel is exactly k + 0.5.
  for (const k of [128, 129, 200, 201]) {
    const v = Math.fround((k + 0.5) / 255);
    if (Math.fround(v * 255) !== k + 0.5) continue;
    const x = Math.fround(2 * v - 1);
    const rgb = toRgb(Float32Array.of(x, x, x), 1, 1);
    assert.equal(rgb[0], k % 2 === 0 ? k : k + 1);
  }
  assert.deepEqual(Array.from(toRgb(Float32Array.of(-5, 0, 5), 1, 1)), [0, 128, 255]);
});

test('fp16 boundary conversion: round to nearest even, overflow to Inf, timesteps rounded to fp16', () => {
  assert.equal(toHalfBits(1), 0x3c00);
  assert.equal(toHalfBits(-2), 0xc000);
  assert.equal(toHalfBits(65504), 0x7bff);
  assert.equal(toHalfBits(65520), 0x7c00); // halfway to the next (non-existent) value rounds to Inf
  assert.equal(toHalfBits(0.1), 0x2e66);
  assert.equal(toHalfBits(2 ** -24), 1); // smallest subnormal
  assert.equal(toHalfBits(1e-9), 0);
  assert.equal(fromHalfBits(0x2e66), 0.0999755859375);
  assert.ok(Number.isNaN(fromHalfBits(toHalfBits(Number.NaN))));
  const round = halfToFloat32(float32ToHalf(Float32Array.of(0.5, 1.5, 1000.25)));
  assert.deepEqual(Array.from(round), [0.5, 1.5, 1000]); // spacing 0.5 between 512 and 1024: .25 ties to even
  const t = timestepFeed(964.5517, { type: 'float16', rank: 1 });
  assert.deepEqual([t.type, t.dims, fromHalfBits((t.data as Uint16Array)[0])], ['float16', [1], 964.5]);
  const i = timestepFeed(964.5517, { type: 'int64', rank: 0 });
  assert.deepEqual([i.type, i.dims, i.data[0]], ['int64', [], 964n]); // truncated, as diffusers' int64 cast
});

test('seed absent or 0: a random seed is drawn, reported per image, and reproduces the image', async () => {
  const { pipeline } = await loadRecorded(tiny('sd1'));
  try {
    const { seed: _omit, ...noSeed } = base({ steps: 1, images: 2 });
    const { images: drawn } = await pipeline.generate(noSeed);
    const first = drawn[0].seed;
    assert.ok(Number.isInteger(first) && first >= 1 && first <= 0xfffffffe, `drawn seed ${first}`);
    assert.equal(drawn[1].seed, (first + 1) >>> 0, 'image i uses seed + i');
    const { images: again } = await pipeline.generate(base({ steps: 1, seed: first }));
    assert.ok(sameBytes(drawn[0].rgb, again[0].rgb), 'the reported seed reproduces the image');
    const { images: zero } = await pipeline.generate(base({ steps: 1, seed: 0 }));
    assert.notEqual(zero[0].seed, 0, 'seed 0 means random');
    const { images: zero2 } = await pipeline.generate(base({ steps: 1, seed: 0 }));
    assert.notEqual(zero[0].seed, zero2[0].seed, 'two random draws differ');
  } finally {
    await pipeline.dispose();
  }
});

test('CFG: ε = ε_u + g·(ε_c − ε_u) with the UNet batch ordered [negative, positive]', async () => {
  // Rows: u = [1, 2], c = [3, -2]; g = 7.5 -> [1 + 7.5·2, 2 + 7.5·(−4)] = [16, −28]. Swapping the rows gives [−12, 32].
  assert.deepEqual(Array.from(applyCfg(Float32Array.of(1, 2, 3, -2), 7.5, new Float32Array(2))), [16, -28]);
  // float32 at every op, like torch on float32 tensors.
  const u = 0.1;
  const c = 0.3;
  const expected = Math.fround(Math.fround(u) + Math.fround(Math.fround(7.5) * Math.fround(Math.fround(c) - Math.fround(u))));
  assert.equal(applyCfg(Float32Array.of(u, c), 7.5, new Float32Array(1))[0], expected);

  // End to end: with one Euler step the scheduler result is linear in the guided ε, so the latents decoded equal
  // x + dσ·(x − (x − σ·ε))/σ computed from the recorded UNet output rows.
  const { pipeline, recorder } = await loadRecorded(tiny('sd1'));
  try {
    const decoded: Float32Array[] = [];
    const unetOut: Float32Array[] = [];
    const unet = pipeline.loaded.unet.session;
    const vae = pipeline.loaded.vae.decoder;
    const unetRun = unet.run.bind(unet);
    const vaeRun = vae.run.bind(vae);
    (unet as { run: typeof unet.run }).run = async (feeds, outputs) => {
      const out = await unetRun(feeds, outputs);
      unetOut.push((out.out_sample.data as Float32Array).slice());
      return out;
    };
    (vae as { run: typeof vae.run }).run = async (feeds, outputs) => {
      decoded.push((feeds.latent_sample.data as Float32Array).slice());
      return vaeRun(feeds, outputs);
    };
    await pipeline.generate(base({ steps: 1, sampler: 'euler', cfgScale: 5, prompts: [{ text: 'a cat', weight: 1 }, { text: 'blurry', weight: -1 }] }));
    const sample = recorder.of('unet')[0].feeds.sample.data as Float32Array;
    const n = sample.length / 2;
    const guided = applyCfg(unetOut[0], 5, new Float32Array(n));
    const swapped = applyCfg(Float32Array.from([...unetOut[0].subarray(n), ...unetOut[0].subarray(0, n)]), 5, new Float32Array(n));
    // Euler, 1 step, σ_1 = 0: x_prev = x − σ·(x − (x − σ·ε))/σ ≈ x − σ·ε, where x = the unscaled latents.
    const scheduler = new EulerDiscreteScheduler(pipeline.loaded.schedulerConfig, 1);
    const sigma = scheduler.sigmas[0];
    const scale = Math.fround(Math.sqrt(Math.fround(Math.fround(sigma * sigma) + 1)));
    const factor = Math.fround(pipeline.loaded.vae.scalingFactor);
    let errGuided = 0;
    let errSwapped = 0;
    for (let i = 0; i < n; i++) {
      const x = sample[i] * scale; // undo scale_model_input
      errGuided = Math.max(errGuided, Math.abs((x - sigma * guided[i]) / factor - decoded[0][i]));
      errSwapped = Math.max(errSwapped, Math.abs((x - sigma * swapped[i]) / factor - decoded[0][i]));
    }
    assert.ok(errGuided < 1e-3, `guided error ${errGuided}`);
    assert.ok(errSwapped > 1e-2, `swapped rows must not match (${errSwapped})`);
  } finally {
    await pipeline.dispose();
  }
});

test('a VAE decoder that returns NaN fails loudly (runtime_error), not with a black image', async () => {
  const dims = [1, 4, 1, 1];
  const fakeVae = (value: number): VaeModel => ({
    decoderInputType: 'float32',
    scalingFactor: 0.13025,
    decoder: {
      path: 'vae_decoder/model.onnx',
      device: 'cpu',
      inputs: [],
      outputs: [],
      stats: { runs: 0, runMs: 0 },
      run: async () => ({ sample: { type: 'float32', data: Float32Array.of(0, value, 0), dims: [1, 3, 1, 1] } }),
      release: async () => {},
    },
  });
  await assert.rejects(decodeLatents(fakeVae(Number.NaN), new Float32Array(4), dims), (err: unknown) => {
    assert.ok(err instanceof EngineError);
    assert.equal(err.code, 'runtime_error');
    assert.match(err.message, /NaN/);
    return true;
  });
  assert.deepEqual(Array.from(await decodeLatents(fakeVae(0.5), new Float32Array(4), dims)), [0, 0.5, 0]);
});

test('generate() resolves the images with the time spent in each stage', async () => {
  const { pipeline } = await loadRecorded(tiny('sd1'));
  try {
    const { images, timings } = await pipeline.generate(base({ images: 2 }));
    assert.equal(images.length, 2);
    assert.deepEqual(Object.keys(timings).sort(), ['loopOtherMs', 'previewMs', 'textMs', 'unetMs', 'vaeMs']);
    assert.ok(timings.textMs > 0 && timings.unetMs > 0 && timings.vaeMs > 0 && timings.loopOtherMs >= 0);
    assert.equal(timings.previewMs, 0);
  } finally {
    await pipeline.dispose();
  }
});

test("generate() takes sizes in multiples of the model's latentMultiple and sizes latents by its VAE scale", async () => {
  const edit = (dir: string, file: string, change: (c: Record<string, unknown>) => void) => {
    const path = join(dir, file);
    const config = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    change(config);
    writeFileSync(path, JSON.stringify(config));
  };
  const { dir, cleanup } = copyTiny('sd1');
  try {
    // Four UNet down blocks, as SD 1.5: sizes must be multiples of 64.
    edit(dir, 'unet/config.json', (c) => (c.down_block_types = ['A', 'B', 'C', 'D']));
    const { pipeline, recorder } = await loadRecorded(dir);
    try {
      assert.equal(pipeline.manifest.latentMultiple, 64);
      await assert.rejects(pipeline.generate(base({ width: 64, height: 48 })), (err: unknown) => {
        assert.ok(err instanceof EngineError && err.code === 'invalid_argument');
        assert.match(err.message, /^Cannot generate: height must be a positive multiple of 64 for this model .*, got 48$/);
        return true;
      });
      assert.equal(recorder.runs.length, 0);
      await pipeline.generate(base({ width: 64, height: 128, steps: 1 }));
      assert.deepEqual(recorder.of('unet')[0].feeds.sample.dims, [2, 4, 16, 8]);
    } finally {
      await pipeline.dispose();
    }
    // A VAE that scales by 4 (three blocks): the latents are a quarter of the image size.
    edit(dir, 'unet/config.json', (c) => (c.down_block_types = ['A']));
    edit(dir, 'vae_decoder/config.json', (c) => (c.block_out_channels = [16, 16, 32]));
    const quarter = await loadRecorded(dir);
    try {
      await quarter.pipeline.generate(base({ width: 32, height: 16, steps: 1 }));
      assert.deepEqual(quarter.recorder.of('unet')[0].feeds.sample.dims, [2, 4, 4, 8]);
    } finally {
      await quarter.pipeline.dispose();
    }
    // An inpainting UNet (9 input channels) cannot run text-to-image.
    edit(dir, 'unet/config.json', (c) => (c.in_channels = 9));
    const inpaint = await loadRecorded(dir);
    try {
      await assert.rejects(inpaint.pipeline.generate(base()), /inpainting UNet \(9 input channels\)/);
    } finally {
      await inpaint.pipeline.dispose();
    }
  } finally {
    cleanup();
  }
});
