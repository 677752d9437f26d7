import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EngineError } from '../../src/engine/errors.ts';
import { loadModelFolder } from '../../src/engine/model/loader.ts';
import { createNoise } from '../../src/engine/noise/index.ts';
import { startLatents, type PreparedImageInput } from '../../src/engine/pipeline/image2image.ts';
import { planStrength } from '../../src/engine/pipeline/strength.ts';
import { encodeImage, maskSample, rgbToSample, sampleLatents, type EncodedImage } from '../../src/engine/pipeline/vae-encode.ts';
import type { ModelSession } from '../../src/engine/runtime/ort.ts';
import { createScheduler, type SchedulerConfig } from '../../src/engine/schedulers/index.ts';
import { tiny } from './pipeline-helpers.ts';

const f32 = Math.fround;

function assertAllClose(actual: ArrayLike<number>, expected: readonly number[], rtol: number, label: string, atol = 1e-6): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < expected.length; i++) {
    const tolerance = Math.max(atol, rtol * Math.abs(expected[i]));
    assert.ok(Math.abs(actual[i] - expected[i]) <= tolerance, `${label}[${i}]: ${actual[i]} is not within ${tolerance} of ${expected[i]}`);
  }
}

// Golden values from diffusers' own DiagonalGaussianDistribution, prepare_latents and prepare_mask_latents
// (scripts/tiny-models/img2img_reference.py, "generatorOrder"; docs/engine-reference.md §7.6), torch 1.13 CPU generator.
const PARAMS_SEED = 1234;
const LATENT_SAMPLE = [-448.22839, -1992.3137, 654.39423, -3537.2744, 216.43547, 2169.2043, -75.634178, -201.32108, -27.58326, 30.052542, -6.2961726, -0.81285131, -0.30390078, -0.28562602, -0.15798087, -0.12473025, -0.064278126, 0.0012312289, 0.067007653, 0.12372684, 0.16370007, 0.18150823, 0.17475009, 0.14434057, 0.094395265, 0.03167389, -0.035334237, -0.097560145, -0.14658181, -0.17576413, -0.1811578, -0.16203243];
const IMG2IMG = { latents: [-450.44168, -1991.0094, 652.64917, -3538.6572, 215.59517, 2168.7939, -78.866882, -200.77795, -26.194433, 30.064116, -6.760869, -2.5254476, 2.4216411, -1.7920185, 1.6472055, 0.11235065, 2.3024297, -0.068149701, -2.1938307, -2.8585434, -2.0827377, 0.7555933, -1.5795263, 1.1654596, 2.0534892, 2.7217991, 0.97259474, 0.97492349, -0.098743156, -2.6324606, -2.9606988, 0.92952114], nextDraw: [0.92574239, 0.92469609, 0.18253565, -0.073697761, 0.31467846, -1.0369008, 0.21004197, 0.61442745, 0.062795863, -0.32967463, -1.7969683, 0.87281775, 0.76696461, -0.11378122, -0.94281924, 0.75402212, 0.14072846, -0.6936872, -0.6158936, -0.72954923, 0.43083027, 0.28620344, -0.24812295, 0.20395772, 0.8518731, -1.4101809, -0.10710206, -0.80181128, 0.27707425, 2.559927, -1.6951752, 0.18853413] };
const INPAINT: Record<string, Record<string, number[]>> = {
  'inpaint4/0.5': { latents: [-450.44168, -1991.0094, 652.64917, -3538.6572, 215.59517, 2168.7939, -78.866882, -200.77795, -26.194433, 30.064116, -6.760869, -2.5254476, 2.4216411, -1.7920185, 1.6472055, 0.11235065, 2.3024297, -0.068149701, -2.1938307, -2.8585434, -2.0827377, 0.7555933, -1.5795263, 1.1654596, 2.0534892, 2.7217991, 0.97259474, 0.97492349, -0.098743156, -2.6324606, -2.9606988, 0.92952114], noise: [-1.4948758, 0.88096112, -1.1786475, -0.93399501, -0.56754547, -0.27722767, -2.1833978, 0.36682636, 0.93802738, 0.0078164851, -0.31386048, -1.1567043, 1.8408576, -1.0174322, 1.2192405, 0.16012676, 1.5984976, -0.046860561, -1.5269923, -2.0142546, -1.517266, 0.38774267, -1.1848555, 0.6896739, 1.3231913, 1.816937, 0.68076509, 0.72436601, 0.032310698, -1.6592768, -1.8773292, 0.73724598], maskedImageLatents: [3714.1902, 3710.0581, 732.47784, -295.52115, 1262.7094, -3364.8108, 266.94806, 264.815, 8.0893726, -11.254973, -14.785789, 1.4324419, 0.1123317, -0.18975122, -0.17616524, -0.11981514, -0.064633451, 0.0011656863, 0.067009717, 0.12373147, 0.16370027, 0.18150815, 0.1747501, 0.14434063, 0.094395317, 0.031673893, -0.035334259, -0.097560197, -0.14658172, -0.17576404, -0.18115786, -0.16203247], imageLatents: [-448.22839, -1992.3137, 654.39423, -3537.2744, 216.43547, 2169.2043, -75.634178, -201.32108, -27.58326, 30.052542, -6.2961726, -0.81285131, -0.30390078, -0.28562602, -0.15798087, -0.12473025, -0.064278126, 0.0012312289, 0.067007653, 0.12372684, 0.16370007, 0.18150823, 0.17475009, 0.14434057, 0.094395265, 0.03167389, -0.035334237, -0.097560145, -0.14658181, -0.17576413, -0.1811578, -0.16203243], nextDraw: [0.7387926, 1.5903345, -0.19473624, -0.24148659, 1.3204473, 1.599697, -1.0792428, -0.33960974, -0.67796814, -0.12606223, -1.676967, 1.2068005, 0.57217729, 0.065288752, -0.023459021, 0.88760567, 0.95697105, -0.55098683, 2.6616762, 2.1479123, -0.85549259, -0.72080588, 1.3754544, 0.99884731, 0.146919, -0.90529406, -0.35874662, 1.6373895, 0.68968612, -0.58444244, 0.90778357, 0.48482215] },
  'inpaint4/1.0': { latents: [-21.847078, 12.874934, -17.225515, -13.650005, -8.2944756, -4.0515838, -31.909584, 5.3610368, 13.708938, 0.11423516, -4.5869594, -16.904823, 26.903481, -14.869411, 17.818768, 2.3401957, 23.361475, -0.68485045, -22.31645, -29.437616, -22.174305, 5.6667213, -17.316242, 10.079339, 19.337971, 26.553888, 9.9491405, 10.586352, 0.47220939, -24.249743, -27.436501, 10.774589], noise: [-1.4948758, 0.88096112, -1.1786475, -0.93399501, -0.56754547, -0.27722767, -2.1833978, 0.36682636, 0.93802738, 0.0078164851, -0.31386048, -1.1567043, 1.8408576, -1.0174322, 1.2192405, 0.16012676, 1.5984976, -0.046860561, -1.5269923, -2.0142546, -1.517266, 0.38774267, -1.1848555, 0.6896739, 1.3231913, 1.816937, 0.68076509, 0.72436601, 0.032310698, -1.6592768, -1.8773292, 0.73724598], maskedImageLatents: [3714.1902, 3710.0581, 732.47784, -295.52115, 1262.7094, -3364.8108, 266.94806, 264.815, 8.0893726, -11.254973, -14.785789, 1.4324419, 0.1123317, -0.18975122, -0.17616524, -0.11981514, -0.064633451, 0.0011656863, 0.067009717, 0.12373147, 0.16370027, 0.18150815, 0.1747501, 0.14434063, 0.094395317, 0.031673893, -0.035334259, -0.097560197, -0.14658172, -0.17576404, -0.18115786, -0.16203247], imageLatents: [-448.22839, -1992.3137, 654.39423, -3537.2744, 216.43547, 2169.2043, -75.634178, -201.32108, -27.58326, 30.052542, -6.2961726, -0.81285131, -0.30390078, -0.28562602, -0.15798087, -0.12473025, -0.064278126, 0.0012312289, 0.067007653, 0.12372684, 0.16370007, 0.18150823, 0.17475009, 0.14434057, 0.094395265, 0.03167389, -0.035334237, -0.097560145, -0.14658181, -0.17576413, -0.1811578, -0.16203243], nextDraw: [0.7387926, 1.5903345, -0.19473624, -0.24148659, 1.3204473, 1.599697, -1.0792428, -0.33960974, -0.67796814, -0.12606223, -1.676967, 1.2068005, 0.57217729, 0.065288752, -0.023459021, 0.88760567, 0.95697105, -0.55098683, 2.6616762, 2.1479123, -0.85549259, -0.72080588, 1.3754544, 0.99884731, 0.146919, -0.90529406, -0.35874662, 1.6373895, 0.68968612, -0.58444244, 0.90778357, 0.48482215] },
  'inpaint9/0.5': { latents: [-450.44168, -1991.0094, 652.64917, -3538.6572, 215.59517, 2168.7939, -78.866882, -200.77795, -26.194433, 30.064116, -6.760869, -2.5254476, 2.4216411, -1.7920185, 1.6472055, 0.11235065, 2.3024297, -0.068149701, -2.1938307, -2.8585434, -2.0827377, 0.7555933, -1.5795263, 1.1654596, 2.0534892, 2.7217991, 0.97259474, 0.97492349, -0.098743156, -2.6324606, -2.9606988, 0.92952114], noise: [-1.4948758, 0.88096112, -1.1786475, -0.93399501, -0.56754547, -0.27722767, -2.1833978, 0.36682636, 0.93802738, 0.0078164851, -0.31386048, -1.1567043, 1.8408576, -1.0174322, 1.2192405, 0.16012676, 1.5984976, -0.046860561, -1.5269923, -2.0142546, -1.517266, 0.38774267, -1.1848555, 0.6896739, 1.3231913, 1.816937, 0.68076509, 0.72436601, 0.032310698, -1.6592768, -1.8773292, 0.73724598], maskedImageLatents: [3714.1902, 3710.0581, 732.47784, -295.52115, 1262.7094, -3364.8108, 266.94806, 264.815, 8.0893726, -11.254973, -14.785789, 1.4324419, 0.1123317, -0.18975122, -0.17616524, -0.11981514, -0.064633451, 0.0011656863, 0.067009717, 0.12373147, 0.16370027, 0.18150815, 0.1747501, 0.14434063, 0.094395317, 0.031673893, -0.035334259, -0.097560197, -0.14658172, -0.17576404, -0.18115786, -0.16203247], nextDraw: [0.7387926, 1.5903345, -0.19473624, -0.24148659, 1.3204473, 1.599697, -1.0792428, -0.33960974, -0.67796814, -0.12606223, -1.676967, 1.2068005, 0.57217729, 0.065288752, -0.023459021, 0.88760567, 0.95697105, -0.55098683, 2.6616762, 2.1479123, -0.85549259, -0.72080588, 1.3754544, 0.99884731, 0.146919, -0.90529406, -0.35874662, 1.6373895, 0.68968612, -0.58444244, 0.90778357, 0.48482215] },
  'inpaint9/1.0': { latents: [-1.6327271, -7.2574883, 2.3832643, -12.885553, 0.78773218, 9.7680445, -0.87187475, -6.8323164, -3.1458452, 12.918785, -11.083994, -5.3908734, -5.0039611, -20.489321, 4.6861563, -14.934085, 11.674655, -1.3487495, -10.302151, -23.417953, 4.2250528, 7.1592884, -5.630652, -10.406133, -2.4934556, -21.329178, 3.224854, 3.5988867, -19.361656, 10.186123, -9.6902971, 17.767855], noise: [-0.11171857, -0.49659011, 0.1630737, -0.88168776, 0.053900193, 0.6683737, -0.059657607, -0.46749794, -0.21525294, 0.88396162, -0.75841689, -0.3688679, -0.34239361, -1.4019718, 0.32064798, -1.0218575, 0.7988326, -0.092287533, -0.7049197, -1.6023622, 0.28909719, 0.48987085, -0.38527462, -0.71203458, -0.1706135, -1.4594387, 0.22065908, 0.24625207, -1.3248119, 0.69698054, -0.66305387, 1.2157569], maskedImageLatents: [-5997.6221, 3534.5881, -4728.7534, -3747.1372, -2276.8796, -899.49365, -2773.2864, 158.13869, 120.37834, 0.23192742, -2.6621554, -2.2374661, 0.51525766, -0.25700629, -0.14504795, -0.12145887, -0.063846365, 0.0012361797, 0.066988572, 0.12372465, 0.16369767, 0.18150818, 0.17475, 0.14434066, 0.094395354, 0.031674072, -0.035334215, -0.097560108, -0.14658174, -0.17576428, -0.18115787, -0.16203244], nextDraw: [0.92574239, 0.92469609, 0.18253565, -0.073697761, 0.31467846, -1.0369008, 0.21004197, 0.61442745, 0.062795863, -0.32967463, -1.7969683, 0.87281775, 0.76696461, -0.11378122, -0.94281924, 0.75402212, 0.14072846, -0.6936872, -0.6158936, -0.72954923, 0.43083027, 0.28620344, -0.24812295, 0.20395772, 0.8518731, -1.4101809, -0.10710206, -0.80181128, 0.27707425, 2.559927, -1.6951752, 0.18853413] },
};

/** The script's latent parameters [1, 8, 2, 4]: mean[i] = f32(sin(0.37·i)), logvar[i] = f32(−6 + 30·cos(0.11·i)). */
function parameters(): EncodedImage {
  const n = 32;
  const values = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    values[i] = f32(Math.sin(0.37 * i));
    values[n + i] = f32(-6 + 30 * Math.cos(0.11 * i));
  }
  return { convention: 'latent_parameters', values };
}

const SD15: SchedulerConfig = {
  _class_name: 'PNDMScheduler',
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  num_train_timesteps: 1000,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  clip_sample: false,
};

describe('VAE encoder input', () => {
  it('turns 8-bit RGB (HWC) into [−1, 1] planes (CHW) as diffusers: 2·f32(p/255) − 1', () => {
    const rgb = Uint8Array.of(0, 128, 255, 10, 20, 30);
    const sample = rgbToSample(rgb, 2, 1);
    assert.deepEqual(Array.from(sample), [-1, f32(2 * f32(10 / 255) - 1), f32(2 * f32(128 / 255) - 1), f32(2 * f32(20 / 255) - 1), 1, f32(2 * f32(30 / 255) - 1)]);
  });

  it('masks the image as image × (mask < 0.5): repainted pixels become 0 in every channel', () => {
    const sample = Float32Array.of(0.5, -0.5, 0.25, -0.25, 1, -1);
    assert.deepEqual(Array.from(maskSample(sample, Float32Array.of(0, 1))), [0.5, 0, 0.25, 0, 1, 0]);
  });
});

describe('VAE encoder output conventions', () => {
  it('latent_parameters are sampled with the torch generator as DiagonalGaussianDistribution.sample (clamped log-variance)', () => {
    const latents = sampleLatents(parameters(), createNoise('torch', PARAMS_SEED), 0.18215);
    assertAllClose(latents, LATENT_SAMPLE, 1e-6, 'latents');
  });

  it('latent_sample is only scaled, and draws nothing from the generator', () => {
    const noise = createNoise('torch', 7);
    const latents = sampleLatents({ convention: 'latent_sample', values: Float32Array.of(1, -2, 0.5, 4) }, noise, 0.13025);
    assert.deepEqual(Array.from(latents), [1, -2, 0.5, 4].map((v) => f32(f32(0.13025) * v)));
    assert.deepEqual(noise.randn(16), createNoise('torch', 7).randn(16));
  });

  it('a latent_parameters encoder (tiny sdxl) gives mean + exp(½·logvar)·ε, ε the image generator\'s first draw', async () => {
    const model = await loadModelFolder(tiny('sdxl'), { threads: 1 });
    try {
      const encoder = await model.loadVaeEncoder();
      assert.equal(encoder.output, 'latent_parameters');
      const sample = Float32Array.from({ length: 3 * 16 * 32 }, (_, i) => f32(Math.sin(i / 7)));
      const encoded = await encodeImage(encoder, sample, 32, 16, 8);
      assert.equal(encoded.values.length, 8 * 2 * 4);
      const latents = sampleLatents(encoded, createNoise('torch', 3), model.vae.scalingFactor);
      const eps = createNoise('torch', 3).randn(32);
      const expected = Array.from({ length: 32 }, (_, i) => {
        const std = f32(Math.exp(f32(0.5 * Math.min(Math.max(encoded.values[32 + i], -30), 20))));
        return f32(f32(0.13025) * f32(encoded.values[i] + f32(std * eps[i])));
      });
      assert.deepEqual(Array.from(latents), expected);
      // The tiny encoder's log-variance is the constant −6 (scripts/tiny-models/make_tiny_models.py).
      assert.ok(encoded.values.subarray(32).every((v) => Math.abs(v + 6) < 1e-5));
    } finally {
      await model.dispose();
    }
  });

  it('a latent_sample encoder (tiny sd1) returns [1, 4, h, w], already sampled inside the graph', async () => {
    const model = await loadModelFolder(tiny('sd1'), { threads: 1 });
    try {
      const encoder = await model.loadVaeEncoder();
      assert.equal(encoder.output, 'latent_sample');
      const sample = Float32Array.from({ length: 3 * 16 * 32 }, (_, i) => f32(Math.cos(i / 5)));
      const a = await encodeImage(encoder, sample, 32, 16, 8);
      const b = await encodeImage(encoder, sample, 32, 16, 8);
      assert.equal(a.values.length, 4 * 2 * 4);
      // ONNX Runtime's unseeded RandomNormalLike differs per run; the tiny posterior's std (3e-7) keeps it tiny.
      assertAllClose(a.values, Array.from(b.values), 0, 'two runs', 5e-6);
    } finally {
      await model.dispose();
    }
  });

  it('an encoder output of the wrong shape is model_invalid, NaN output is runtime_error', async () => {
    const fake = (dims: number[], value: number): NonNullable<Parameters<typeof encodeImage>[0]> => ({
      output: 'latent_parameters',
      session: {
        path: 'vae_encoder/model.onnx',
        device: 'cpu',
        inputs: [{ name: 'sample', type: 'float32', shape: ['batch', 3, 'h', 'w'] }],
        outputs: [],
        stats: { runs: 0, runMs: 0 },
        run: async () => ({ latent_parameters: { type: 'float32', data: new Float32Array(dims.reduce((a, d) => a * d, 1)).fill(value), dims } }),
        release: async () => {},
      } satisfies ModelSession,
    });
    const sample = new Float32Array(3 * 16 * 16);
    await assert.rejects(encodeImage(fake([1, 4, 2, 2], 0), sample, 16, 16, 8), (err: unknown) => {
      assert.ok(err instanceof EngineError && err.code === 'model_invalid');
      assert.match(err.message, /latent_parameters has shape \[1, 4, 2, 2\] for a 16×16 image, expected \[1, 8, 2, 2\]/);
      return true;
    });
    await assert.rejects(encodeImage(fake([1, 8, 2, 2], Number.NaN), sample, 16, 16, 8), (err: unknown) => err instanceof EngineError && err.code === 'runtime_error' && /NaN/.test(err.message));
  });
});

describe("generator order: the image sample first, then the noise (diffusers' prepare_latents)", () => {
  function prepared(mode: PreparedImageInput['mode'], strength: number): PreparedImageInput {
    const image = parameters();
    const input: PreparedImageInput = { mode, strength, plan: planStrength(20, strength, 'euler'), convention: 'latent_parameters' };
    // 9-channel inpainting at strength 1 starts from noise and never encodes the image.
    if (mode !== 'unet' || strength < 1) input.image = image;
    if (mode !== 'none') input.latentMask = new Float32Array(8);
    if (mode === 'unet') input.maskedImage = image;
    return input;
  }
  const scheduler = (): ReturnType<typeof createScheduler> => createScheduler('euler', SD15, 20);

  it('image-to-image: start latents = add_noise(sample, noise, first timestep), and the stream continues after both draws', () => {
    const noise = createNoise('torch', PARAMS_SEED);
    const start = startLatents(prepared('none', 0.5), scheduler(), noise, 0.18215, 32);
    assertAllClose(start.latents, IMG2IMG.latents, 1e-6, 'latents');
    assertAllClose(noise.randn(32), IMG2IMG.nextDraw, 1e-6, 'next draw');
  });

  for (const strength of [0.5, 1]) {
    it(`4-channel inpainting at strength ${strength}: image sample, noise, then the masked image's draw (unused, but drawn)`, () => {
      const golden = INPAINT[`inpaint4/${strength.toFixed(1)}`];
      const noise = createNoise('torch', PARAMS_SEED);
      const start = startLatents(prepared('blend', strength), scheduler(), noise, 0.18215, 32);
      assertAllClose(start.latents, golden.latents, 1e-6, 'latents');
      assertAllClose(start.blend?.imageLatents ?? [], golden.imageLatents, 1e-6, 'image latents');
      assertAllClose(start.blend?.noise ?? [], golden.noise, 1e-6, 'noise');
      assertAllClose(noise.randn(32), golden.nextDraw, 1e-6, 'next draw');
    });

    it(`9-channel inpainting at strength ${strength}: ${strength < 1 ? 'image sample, ' : ''}noise, then the masked image's sample`, () => {
      const golden = INPAINT[`inpaint9/${strength.toFixed(1)}`];
      const noise = createNoise('torch', PARAMS_SEED);
      const start = startLatents(prepared('unet', strength), scheduler(), noise, 0.18215, 32);
      assertAllClose(start.latents, golden.latents, 1e-6, 'latents');
      assertAllClose(start.inpaintChannels?.maskedLatents ?? [], golden.maskedImageLatents, 1e-6, 'masked-image latents');
      assertAllClose(noise.randn(32), golden.nextDraw, 1e-6, 'next draw');
    });
  }
});
