import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EngineError } from '../../src/engine/errors.ts';
import type { NoiseSource } from '../../src/engine/noise/types.ts';
import { denoise, type DenoiseContext } from '../../src/engine/pipeline/denoise.ts';
import { denoisingSteps, planStrength, requireStrengthPlan } from '../../src/engine/pipeline/strength.ts';
import type { ModelSession } from '../../src/engine/runtime/ort.ts';
import type { HostTensor } from '../../src/engine/runtime/tensor.ts';
import { createScheduler, type SamplerName, type Scheduler, type SchedulerConfig } from '../../src/engine/schedulers/index.ts';

const f32 = Math.fround;

// Hub scheduler configs, as in schedulers.test.ts (docs/engine-reference.md §4.6).
const SD_TRAIN = { beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', num_train_timesteps: 1000, trained_betas: null } as const;
const CONFIGS: Record<string, SchedulerConfig> = {
  SD15: { _class_name: 'PNDMScheduler', ...SD_TRAIN, set_alpha_to_one: false, skip_prk_steps: true, steps_offset: 1, clip_sample: false },
  SDXL: {
    _class_name: 'EulerDiscreteScheduler',
    ...SD_TRAIN,
    interpolation_type: 'linear',
    prediction_type: 'epsilon',
    sample_max_value: 1.0,
    set_alpha_to_one: false,
    skip_prk_steps: true,
    steps_offset: 1,
    timestep_spacing: 'leading',
    use_karras_sigmas: false,
  },
  SD21: { _class_name: 'DDIMScheduler', ...SD_TRAIN, clip_sample: false, prediction_type: 'v_prediction', set_alpha_to_one: false, skip_prk_steps: true, steps_offset: 1 },
  LCM: {
    _class_name: 'LCMScheduler',
    ...SD_TRAIN,
    clip_sample: false,
    original_inference_steps: 50,
    prediction_type: 'epsilon',
    set_alpha_to_one: true,
    steps_offset: 0,
    timestep_scaling: 10,
  },
};

function assertClose(actual: number, expected: number, rtol: number, label: string, atol = 0): void {
  const tolerance = Math.max(atol, rtol * Math.abs(expected));
  assert.ok(Math.abs(actual - expected) <= tolerance, `${label}: ${actual} is not within ${tolerance} of ${expected}`);
}

/** A scheduler positioned for image-to-image the way generate() builds it. */
function img2imgScheduler(config: string, sampler: SamplerName, steps: number, strength: number): { scheduler: Scheduler; begin: number; plannedSteps: number } {
  const plan = planStrength(steps, strength, sampler);
  const scheduler = createScheduler(sampler, CONFIGS[config], steps, { strength: plan.schedulerStrength });
  return { scheduler, begin: plan.beginIndex, plannedSteps: plan.steps };
}

describe('strength → timesteps (golden: docs/engine-reference.md §4.10)', () => {
  // [config, sampler, N, strength, begin index, denoising steps, UNet evaluations, first timesteps, last timestep,
  //  start noise level [a, s] (add_noise = a·x + s·n; σ samplers: [1, σ])], from scripts/tiny-models/img2img_reference.py.
  const rows: Array<[string, SamplerName, number, number, number, number, number, number[], number, [number, number]]> = [
    ['SD15', 'pndm', 20, 0.05, 19, 1, 2, [51.0, 1.0], 1.0, [0.97494823, 0.22243181]],
    ['SD15', 'pndm', 20, 0.3, 14, 6, 7, [301.0, 251.0, 201.0], 1.0, [0.76734507, 0.6412344]],
    ['SD15', 'pndm', 20, 0.5, 10, 10, 11, [501.0, 451.0, 401.0], 1.0, [0.52440333, 0.85146993]],
    ['SD15', 'pndm', 20, 0.75, 5, 15, 16, [751.0, 701.0, 651.0], 1.0, [0.23604871, 0.9717412]],
    ['SD15', 'pndm', 20, 1.0, 0, 20, 21, [951.0, 901.0, 901.0], 1.0, [0.090305038, 0.99591416]],
    ['SD15', 'euler', 20, 0.05, 19, 1, 1, [0.0], 0.0, [1, 0.029167533]],
    ['SD15', 'euler', 20, 0.3, 14, 6, 6, [262.89474, 210.3158, 157.73685], 0.0, [1, 0.72971952]],
    ['SD15', 'euler', 20, 0.5, 10, 10, 10, [473.21054, 420.63159, 368.05264], 0.0, [1, 1.4805826]],
    ['SD15', 'euler', 20, 0.75, 5, 15, 15, [736.10529, 683.52631, 630.94739], 0.0, [1, 3.8653843]],
    ['SD15', 'euler', 20, 1.0, 0, 20, 20, [999.0, 946.42108, 893.8421], 0.0, [1, 14.614645]],
    ['SD15', 'euler_a', 20, 0.05, 19, 1, 1, [0.0], 0.0, [1, 0.029167533]],
    ['SD15', 'euler_a', 20, 0.3, 14, 6, 6, [262.89474, 210.3158, 157.73685], 0.0, [1, 0.72971952]],
    ['SD15', 'euler_a', 20, 0.5, 10, 10, 10, [473.21054, 420.63159, 368.05264], 0.0, [1, 1.4805826]],
    ['SD15', 'euler_a', 20, 0.75, 5, 15, 15, [736.10529, 683.52631, 630.94739], 0.0, [1, 3.8653843]],
    ['SD15', 'euler_a', 20, 1.0, 0, 20, 20, [999.0, 946.42108, 893.8421], 0.0, [1, 14.614645]],
    ['SD15', 'lms', 20, 0.05, 19, 1, 1, [0.0], 0.0, [1, 0.029167533]],
    ['SD15', 'lms', 20, 0.3, 14, 6, 6, [262.89474, 210.3158, 157.73685], 0.0, [1, 0.72971952]],
    ['SD15', 'lms', 20, 0.5, 10, 10, 10, [473.21054, 420.63159, 368.05264], 0.0, [1, 1.4805826]],
    ['SD15', 'lms', 20, 0.75, 5, 15, 15, [736.10529, 683.52631, 630.94739], 0.0, [1, 3.8653843]],
    ['SD15', 'lms', 20, 1.0, 0, 20, 20, [999.0, 946.42108, 893.8421], 0.0, [1, 14.614645]],
    ['SD15', 'ddim', 20, 0.05, 19, 1, 1, [1.0], 1.0, [0.99914765, 0.041279264]],
    ['SD15', 'ddim', 20, 0.3, 14, 6, 6, [251.0, 201.0, 151.0], 1.0, [0.81984824, 0.57258087]],
    ['SD15', 'ddim', 20, 0.5, 10, 10, 10, [451.0, 401.0, 351.0], 1.0, [0.58784181, 0.80897588]],
    ['SD15', 'ddim', 20, 0.75, 5, 15, 15, [701.0, 651.0, 601.0], 1.0, [0.28621086, 0.95816666]],
    ['SD15', 'ddim', 20, 1.0, 0, 20, 20, [951.0, 901.0, 851.0], 1.0, [0.090305038, 0.99591416]],
    ['SD15', 'dpmpp_2m', 20, 0.05, 19, 1, 1, [50.0], 50.0, [0.97548795, 0.22005306]],
    ['SD15', 'dpmpp_2m', 20, 0.3, 14, 6, 6, [300.0, 250.0, 200.0], 50.0, [0.76844049, 0.63992125]],
    ['SD15', 'dpmpp_2m', 20, 0.5, 10, 10, 10, [500.0, 450.0, 400.0], 50.0, [0.52567339, 0.85068649]],
    ['SD15', 'dpmpp_2m', 20, 0.75, 5, 15, 15, [749.0, 699.0, 649.0], 50.0, [0.23795682, 0.97127569]],
    ['SD15', 'dpmpp_2m', 20, 1.0, 0, 20, 20, [999.0, 949.0, 899.0], 50.0, [0.068264894, 0.99766719]],
    ['SD15', 'dpmpp_2m_karras', 20, 0.05, 19, 1, 1, [0.0], 0.0, [0.99957484, 0.029155131]],
    ['SD15', 'dpmpp_2m_karras', 20, 0.3, 14, 6, 6, [69.0, 35.0, 15.0], 0.0, [0.96468729, 0.26339799]],
    ['SD15', 'dpmpp_2m_karras', 20, 0.5, 10, 10, 10, [380.0, 285.0, 197.0], 0.0, [0.6757645, 0.73711753]],
    ['SD15', 'dpmpp_2m_karras', 20, 0.75, 5, 15, 15, [772.0, 710.0, 640.0], 0.0, [0.21693765, 0.9761855]],
    ['SD15', 'dpmpp_2m_karras', 20, 1.0, 0, 20, 20, [999.0, 962.0, 921.0], 0.0, [0.068264894, 0.99766719]],
    ['SDXL', 'euler', 30, 0.05, 29, 1, 1, [1.0], 1.0, [1, 0.041314479]],
    ['SDXL', 'euler', 30, 0.3, 21, 9, 9, [265.0, 232.0, 199.0], 1.0, [1, 0.7353431]],
    ['SDXL', 'euler', 30, 0.5, 15, 15, 15, [463.0, 430.0, 397.0], 1.0, [1, 1.431561]],
    ['SDXL', 'euler', 30, 0.75, 8, 22, 22, [694.0, 661.0, 628.0], 1.0, [1, 3.2555881]],
    ['SDXL', 'euler', 30, 1.0, 0, 30, 30, [958.0, 925.0, 892.0], 1.0, [1, 11.47685]],
    ['SD21', 'ddim', 50, 0.05, 48, 2, 2, [21.0, 1.0], 1.0, [0.99014175, 0.14006907]],
    ['SD21', 'ddim', 50, 0.3, 35, 15, 15, [281.0, 261.0, 241.0], 1.0, [0.78891391, 0.61450374]],
    ['SD21', 'ddim', 50, 0.5, 25, 25, 25, [481.0, 461.0, 441.0], 1.0, [0.54981405, 0.83528709]],
    ['SD21', 'ddim', 50, 0.75, 13, 37, 37, [721.0, 701.0, 681.0], 1.0, [0.26554406, 0.96409869]],
    ['SD21', 'ddim', 50, 1.0, 0, 50, 50, [981.0, 961.0, 941.0], 1.0, [0.075996689, 0.99710804]],
    ['LCM', 'lcm', 4, 0.3, 0, 4, 4, [299.0, 239.0, 159.0], 79.0, [0.76953417, 0.63860559]],
    ['LCM', 'lcm', 4, 0.5, 0, 4, 4, [499.0, 379.0, 259.0], 139.0, [0.5269435, 0.84990031]],
    ['LCM', 'lcm', 4, 0.75, 0, 4, 4, [739.0, 559.0, 379.0], 199.0, [0.24762374, 0.96885628]],
    ['LCM', 'lcm', 4, 1.0, 0, 4, 4, [999.0, 759.0, 499.0], 259.0, [0.068264894, 0.99766725]],
  ];
  for (const [config, sampler, steps, strength, begin, denoising, evaluations, first, last, level] of rows) {
    it(`${sampler} from the ${config} config, ${steps} steps, strength ${strength}: starts at index ${begin} with ${first[0]}`, () => {
      const { scheduler, begin: planned, plannedSteps } = img2imgScheduler(config, sampler, steps, strength);
      assert.equal(planned, begin, 'begin index');
      assert.equal(plannedSteps, denoising, 'denoising steps');
      const run = scheduler.timesteps.slice(planned);
      assert.equal(run.length, evaluations, 'UNet evaluations');
      first.forEach((t, i) => assertClose(run[i], t, 1e-6, `timestep ${i}`));
      assertClose(run[run.length - 1], last, 1e-6, 'last timestep');
      // The noise level add_noise uses at the start: a = add_noise(1, 0), s = add_noise(0, 1).
      const a = scheduler.addNoise(Float32Array.of(1), Float32Array.of(0), planned)[0];
      const s = scheduler.addNoise(Float32Array.of(0), Float32Array.of(1), planned)[0];
      assertClose(a, level[0], 1e-6, 'a');
      assertClose(s, level[1], 1e-6, 's');
    });
  }

  it('LCM with 4 steps and strength 0.05 has fewer origin timesteps (int(50 × 0.05) = 2) than steps: diffusers raises, so do we', () => {
    assert.equal(planStrength(4, 0.05, 'lcm').steps, 0);
    assert.throws(() => createScheduler('lcm', CONFIGS.LCM, 4, { strength: 0.05 }), /int\(original_inference_steps × strength\) = int\(50 × 0.05\) = 2 must be at least steps/);
  });
});

describe('add_noise (golden: docs/engine-reference.md §4.9)', () => {
  // scheduler.add_noise(x0, noise, timesteps[:1]) after get_timesteps(20, 0.6) (LCM: set_timesteps(4, strength 0.6)),
  // x0[i] = f32(sin(i + 1)), noise[i] = f32(cos(i)).
  const golden: Record<string, number[]> = {
    euler: [2.957133, 2.052394, -0.7393059, -2.851292, -2.341813, 0.3207178, 2.688382, 2.58436, 0.1042897, -2.471664, -2.775182, -0.5272096, 2.205477, 2.910458, 0.9395776, -1.895146],
    euler_a: [2.957133, 2.052394, -0.7393059, -2.851292, -2.341813, 0.3207178, 2.688382, 2.58436, 0.1042897, -2.471664, -2.775182, -0.5272096, 2.205477, 2.910458, 0.9395776, -1.895146],
    lms: [2.957133, 2.052394, -0.7393059, -2.851292, -2.341813, 0.3207178, 2.688382, 2.58436, 0.1042897, -2.471664, -2.775182, -0.5272096, 2.205477, 2.910458, 0.9395776, -1.895146],
    ddim: [1.275409, 0.8988286, -0.3041312, -1.227474, -1.022283, 0.1227904, 1.154971, 1.125276, 0.06100811, -1.059351, -1.205748, -0.2435855, 0.9425279, 1.262086, 0.4212875, -0.8068403],
    pndm: [1.253011, 0.8587595, -0.325031, -1.209989, -0.9824892, 0.1483071, 1.142751, 1.086555, 0.0313852, -1.052639, -1.168872, -0.2104493, 0.9414598, 1.227795, 0.3853012, -0.8114368],
    dpmpp_2m: [1.253985, 0.8603838, -0.3242505, -1.21077, -0.9841136, 0.1473328, 1.143322, 1.088146, 0.03253388, -1.05299, -1.1704, -0.2117494, 0.9415825, 1.229228, 0.3867267, -0.8113291],
    dpmpp_2m_karras: [1.271299, 0.8909515, -0.3085326, -1.224353, -1.014509, 0.12807, 1.152902, 1.117761, 0.05495602, -1.058376, -1.198642, -0.236882, 0.9426659, 1.255531, 0.4140669, -0.8080887],
    lcm: [1.253985, 0.8603837, -0.3242505, -1.21077, -0.9841136, 0.1473328, 1.143322, 1.088146, 0.03253387, -1.05299, -1.1704, -0.2117494, 0.9415824, 1.229228, 0.3867267, -0.8113291],
  };
  const x0 = Float32Array.from({ length: 16 }, (_, i) => f32(Math.sin(i + 1)));
  const noise = Float32Array.from({ length: 16 }, (_, i) => f32(Math.cos(i)));
  for (const [sampler, expected] of Object.entries(golden) as Array<[SamplerName, number[]]>) {
    it(`${sampler} noises the image latents like diffusers' ${sampler === 'lcm' ? 'LCMScheduler' : 'scheduler'}.add_noise`, () => {
      const { scheduler, begin } = sampler === 'lcm' ? img2imgScheduler('LCM', 'lcm', 4, 0.6) : img2imgScheduler('SD15', sampler, 20, 0.6);
      const noisy = scheduler.addNoise(x0, noise, begin);
      expected.forEach((e, i) => assertClose(noisy[i], e, 2e-6, `value ${i}`, 1e-7));
    });
  }

  it('rejects an index outside the schedule and noise of the wrong length', () => {
    const scheduler = createScheduler('euler', CONFIGS.SD15, 4);
    assert.throws(() => scheduler.addNoise(x0, noise, 4), (err: unknown) => err instanceof EngineError && /index must be an integer in \[0, 3\]/.test(err.message));
    assert.throws(() => scheduler.addNoise(x0, noise.subarray(1), 0), /noise length must equal the sample length/);
  });
});

/** The c-th draw returns f32(cos(16c + i)) (the §4.7 convention). */
class MockNoise implements NoiseSource {
  calls = 0;
  randn(count: number): Float32Array {
    const out = Float32Array.from({ length: count }, (_, i) => Math.cos(this.calls * 16 + i));
    this.calls++;
    return out;
  }
}

/** A UNet session computing the reference script's mock model m = xin·0.1 + roll(xin, 1)·0.05 + f32(t)·1e-4. */
function mockUnet(): ModelSession {
  return {
    path: 'mock',
    device: 'cpu',
    inputs: [],
    outputs: [],
    stats: { runs: 0, runMs: 0 },
    async run(feeds): Promise<Record<string, HostTensor>> {
      const x = feeds.sample.data as Float32Array;
      const t = (feeds.timestep.data as Float32Array)[0];
      const bias = f32(f32(t) * 1e-4);
      const out = new Float32Array(x.length);
      for (let i = 0; i < x.length; i++) out[i] = f32(f32(x[i] * f32(0.1)) + f32(x[(i + 15) % 16] * f32(0.05))) + bias;
      return { out_sample: { type: 'float32', data: out, dims: feeds.sample.dims } };
    },
    release: async () => {},
  };
}

/** Latent mask [2, 2]: top row repainted, bottom row kept. */
const BLEND_MASK = Float32Array.of(1, 1, 0, 0);

describe('image-to-image and 4-channel inpainting loops (golden: docs/engine-reference.md §4.10)', () => {
  // diffusers' pipeline loops (written out in scripts/tiny-models/img2img_reference.py) with its scheduler classes:
  // 10 steps (LCM 4) at strength 0.6 from x0 = f32(sin(i + 1)); noise draw 0 goes to add_noise, later draws to the
  // ancestral steps; inpainting repaints the top row of the [2, 2] latent grid and blends the bottom row back after
  // every step.
  const golden: Array<['img2img' | 'inpaint', SamplerName, number[], number, number]> = [
    ['img2img', 'euler', [2.486423, 1.487755, -0.7616569, -2.373757], 1.474423, 24.3926],
    ['img2img', 'euler_a', [1.832607, 1.061194, -0.588748, -1.796339], 0.3496617, 18.0185],
    ['img2img', 'lms', [2.450257, 1.4333, -0.763774, -2.3262], 1.367197, 23.85492],
    ['img2img', 'ddim', [2.22704, 1.411148, -0.6127925, -2.119187], 1.609662, 21.98599],
    ['img2img', 'pndm', [2.271574, 1.333104, -0.7141458, -2.150635], 1.474338, 22.16381],
    ['img2img', 'dpmpp_2m', [2.737205, 1.549494, -0.8961113, -2.590725], 1.468777, 26.50903],
    ['img2img', 'dpmpp_2m_karras', [2.322356, 1.428026, -0.6608844, -2.186998], 1.680531, 22.6891],
    ['img2img', 'lcm', [1.517133, 0.9406394, -0.4084841, -1.569731], -0.8974731, 15.53832],
    ['inpaint', 'euler', [2.442991, 1.488407, 0.14112, -0.7568025], 4.023899, 17.33599],
    ['inpaint', 'euler_a', [1.811725, 1.061212, 0.14112, -0.7568025], 2.570306, 14.01892],
    ['inpaint', 'lms', [2.398671, 1.434479, 0.14112, -0.7568025], 3.900329, 17.08599],
    ['inpaint', 'ddim', [2.196681, 1.411536, 0.14112, -0.7568025], 3.715355, 16.09611],
    ['inpaint', 'pndm', [2.227821, 1.334067, 0.14112, -0.7568025], 3.730071, 16.28198],
    ['inpaint', 'dpmpp_2m', [2.670472, 1.551066, 0.14112, -0.7568025], 4.349588, 18.49103],
    ['inpaint', 'dpmpp_2m_karras', [2.277496, 1.428791, 0.14112, -0.7568025], 3.858953, 16.46594],
    ['inpaint', 'lcm', [1.511717, 0.9397708, 0.14112, -0.7568025], 1.439108, 12.57726],
  ];
  for (const [mode, sampler, first4, sum, absSum] of golden) {
    it(`${mode} with ${sampler} ends where diffusers' loop ends`, async () => {
      const { scheduler, begin } = sampler === 'lcm' ? img2imgScheduler('LCM', 'lcm', 4, 0.6) : img2imgScheduler('SD15', sampler, 10, 0.6);
      const noise = new MockNoise();
      const x0 = Float32Array.from({ length: 16 }, (_, i) => f32(Math.sin(i + 1)));
      const eps = noise.randn(16);
      const ctx: DenoiseContext = {
        unet: { session: mockUnet(), sampleType: 'float32', timestep: { type: 'float32', rank: 1 } },
        options: { cfgScale: 1, images: 1 },
        conditioning: { batch: 1, cfg: false, feeds: {} },
        image: 0,
        timings: { textMs: 0, unetMs: 0, loopOtherMs: 0, vaeMs: 0, previewMs: 0 },
      };
      const latents = await denoise(ctx, {
        scheduler,
        beginIndex: begin,
        latents: scheduler.addNoise(x0, eps, begin),
        noise,
        dims: [1, 4, 2, 2],
        blend: mode === 'inpaint' ? { mask: BLEND_MASK, imageLatents: x0, noise: eps } : undefined,
      });
      first4.forEach((e, i) => assertClose(latents[i], e, 1e-5, `latents[${i}]`));
      assertClose(latents.reduce((a, v) => a + v, 0), sum, 1e-5, 'sum', 1e-6);
      assertClose(latents.reduce((a, v) => a + Math.abs(v), 0), absSum, 1e-5, 'sum of abs');
    });
  }
});

describe('denoisingSteps: what a service prices and rejects before queuing', () => {
  const sd15 = { defaultSampler: 'pndm' as const };
  const lcm = { defaultSampler: 'lcm' as const, originalInferenceSteps: 50 };

  it('text-to-image runs all its steps', () => {
    assert.equal(denoisingSteps(sd15, { steps: 20 }), 20);
  });

  it('image-to-image runs int(steps × strength) steps: Stability image_strength 0.95 with 20 steps leaves one', () => {
    assert.equal(denoisingSteps(sd15, { steps: 20, strength: 1 - 0.95 }), 1);
    assert.equal(denoisingSteps(sd15, { steps: 20, strength: 0.5, sampler: 'euler' }), 10);
    assert.equal(denoisingSteps(sd15, { steps: 20, strength: 1 }), 20);
    assert.equal(denoisingSteps(sd15, { steps: 50, strength: 0.05 }), 2); // int(2.5000000000000004)
  });

  it('a strength that leaves no step counts 0', () => {
    assert.equal(denoisingSteps(sd15, { steps: 20, strength: 0.04 }), 0);
    assert.equal(denoisingSteps(sd15, { steps: 20, strength: 0 }), 0);
  });

  it('LCM runs all its steps while int(original_inference_steps × strength) covers them, else none', () => {
    assert.equal(denoisingSteps(lcm, { steps: 4, strength: 0.5 }), 4);
    assert.equal(denoisingSteps(lcm, { steps: 4, strength: 0.08 }), 4);
    assert.equal(denoisingSteps(lcm, { steps: 4, strength: 0.07 }), 0);
    assert.equal(denoisingSteps({ ...lcm, originalInferenceSteps: 100 }, { steps: 4, strength: 0.04 }), 4);
  });

  it('rejects steps that are not positive integers and strengths outside [0, 1]', () => {
    for (const request of [{ steps: 0 }, { steps: 2.5 }, { steps: 20, strength: 1.5 }, { steps: 20, strength: -0.1 }, { steps: 20, strength: Number.NaN }]) {
      assert.throws(() => denoisingSteps(sd15, request), (err: unknown) => err instanceof EngineError && err.code === 'invalid_argument', JSON.stringify(request));
    }
    assert.throws(() => denoisingSteps(sd15, { steps: 20, strength: 1.5 }), /^EngineError: Cannot count denoising steps: strength must be a number in \[0, 1\], got 1.5$/);
  });

  it('explains a request the strength leaves without a step', () => {
    assert.throws(
      () => requireStrengthPlan(20, 0.04, 'euler', undefined, 'generate image-to-image'),
      /^EngineError: Cannot generate image-to-image: the strength leaves no denoising step \(diffusers runs int\(steps × strength\) of them, at least 1 is needed\), got int\(20 × 0.04\) = 0$/,
    );
    assert.throws(
      () => requireStrengthPlan(4, 0.05, 'lcm', 50, 'inpaint'),
      /^EngineError: Cannot inpaint with the LCM sampler: int\(original_inference_steps × strength\) must be at least steps \(4\) so that LCM has a timestep to pick for each, got int\(50 × 0.05\) = 2$/,
    );
  });
});
