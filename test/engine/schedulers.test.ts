import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EngineError } from '../../src/engine/errors.ts';
import type { NoiseSource } from '../../src/engine/noise/types.ts';
import {
  createScheduler,
  DdimScheduler,
  DpmSolverMultistepScheduler,
  EulerDiscreteScheduler,
  LcmScheduler,
  PndmScheduler,
  SAMPLER_NAMES,
  samplerFromConfig,
  type SamplerName,
  type Scheduler,
  type SchedulerConfig,
} from '../../src/engine/schedulers/index.ts';
import {
  interpTrainTable,
  karrasSigmas,
  linspace,
  roundHalfEven,
  sigmaToT,
  spacedTimesteps,
  trainSchedule,
} from '../../src/engine/schedulers/schedule.ts';

const f32 = Math.fround;

// Hub scheduler configs (docs/engine-reference.md §2.4, §4.6–§4.8).
const SD_TRAIN = { beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', num_train_timesteps: 1000 } as const;
/** stable-diffusion-v1-5 scheduler_config.json (no timestep_spacing key). */
const SD15: SchedulerConfig = {
  _class_name: 'PNDMScheduler',
  _diffusers_version: '0.6.0',
  ...SD_TRAIN,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  trained_betas: null,
  clip_sample: false,
};
/** stable-diffusion-xl-base-1.0 scheduler_config.json. */
const SDXL: SchedulerConfig = {
  _class_name: 'EulerDiscreteScheduler',
  ...SD_TRAIN,
  interpolation_type: 'linear',
  prediction_type: 'epsilon',
  sample_max_value: 1.0,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  timestep_spacing: 'leading',
  trained_betas: null,
  use_karras_sigmas: false,
};
/** stable-diffusion-2-1 (768, v-prediction) scheduler_config.json. */
const SD21: SchedulerConfig = {
  _class_name: 'DDIMScheduler',
  ...SD_TRAIN,
  clip_sample: false,
  prediction_type: 'v_prediction',
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  trained_betas: null,
};
/** sd-turbo scheduler_config.json. */
const SD_TURBO: SchedulerConfig = { ...SDXL, timestep_spacing: 'trailing' };
/** LCM_Dreamshaper_v7 scheduler_config.json. */
const LCM_DREAMSHAPER: SchedulerConfig = {
  _class_name: 'LCMScheduler',
  ...SD_TRAIN,
  clip_sample: false,
  original_inference_steps: 50,
  prediction_type: 'epsilon',
  set_alpha_to_one: true,
  steps_offset: 0,
  timestep_scaling: 10,
  trained_betas: null,
};

function assertClose(actual: number, expected: number, rtol: number, label: string): void {
  const tolerance = rtol * Math.max(Math.abs(expected), 1e-30);
  assert.ok(Math.abs(actual - expected) <= tolerance, `${label}: ${actual} vs ${expected} (rtol ${rtol})`);
}

/** Checks the first and last values of a schedule; integers exactly, fractions to rtol 1e-6. */
function assertEnds(actual: ArrayLike<number>, head: readonly number[], tail: readonly number[], label: string): void {
  const check = (a: number, e: number, i: number): void => {
    if (Number.isInteger(e)) assert.equal(a, e, `${label}[${i}]: ${a} vs ${e}`);
    else assertClose(a, e, 1e-6, `${label}[${i}]`);
  };
  head.forEach((e, i) => check(actual[i], e, i));
  tail.forEach((e, j) => {
    const i = actual.length - tail.length + j;
    check(actual[i], e, i);
  });
}

function isInvalidArgument(err: unknown): boolean {
  return err instanceof EngineError && err.code === 'invalid_argument';
}

/** docs/engine-reference.md §4.7 mock noise: call c returns fround(cos(16c + i)). */
class MockNoise implements NoiseSource {
  calls = 0;
  randn(count: number): Float32Array {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = Math.cos(this.calls * 16 + i);
    this.calls++;
    return out;
  }
}

/** docs/engine-reference.md §4.7 loop: x0 = fround(sin(i+1)), mock model m = xin·0.1 + float32(t)·1e-4. */
function runTrajectory(scheduler: Scheduler, noise: NoiseSource = new MockNoise()): Float32Array {
  let latents: Float32Array = new Float32Array(16);
  for (let i = 0; i < 16; i++) latents[i] = f32(Math.sin(i + 1)) * scheduler.initNoiseSigma;
  scheduler.timesteps.forEach((t, index) => {
    const input = scheduler.scaleModelInput(latents, index);
    const bias = f32(f32(t) * f32(1e-4));
    const output = new Float32Array(16);
    for (let i = 0; i < 16; i++) output[i] = f32(input[i] * f32(0.1)) + bias;
    latents = scheduler.step(output, index, latents, noise).prevSample;
  });
  return latents;
}

describe('schedule helpers', () => {
  it('roundHalfEven rounds like np.round', () => {
    assert.deepEqual([0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, 2.4999, 2.5001].map(roundHalfEven), [0, 2, 2, 4, -0, -2, -2, 2, 3]);
  });

  it('linspace matches numpy (endpoint exact, single point)', () => {
    const v = linspace(0, 999, 30);
    assert.equal(v[29], 999);
    assert.equal(v[1], 999 / 29);
    assert.deepEqual(Array.from(linspace(0, 1, 1)), [0]);
  });

  it('builds the SD training tables like torch (docs/engine-reference.md §4.1)', () => {
    const t = trainSchedule({ ...SD_TRAIN, trained_betas: null });
    const printed = (v: number, s: string): void => assert.equal(Number(v.toPrecision(s.replace(/^0\.0*/, '').length)), Number(s));
    printed(t.betas[0], '0.00084999995');
    printed(t.betas[999], '0.011999999');
    printed(t.alphasCumprod[0], '0.99914998');
    printed(t.alphasCumprod[999], '0.0046600960');
    printed(t.sigmas[0], '0.029167533');
    printed(t.sigmas[999], '14.614645');
  });

  it('supports linear and cosine schedules and trained betas', () => {
    const linear = trainSchedule({ num_train_timesteps: 1000, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear', trained_betas: null });
    assert.equal(linear.betas[0], f32(0.0001));
    assert.equal(linear.betas[999], f32(0.02));
    const cosine = trainSchedule({ num_train_timesteps: 1000, beta_start: 0, beta_end: 0, beta_schedule: 'squaredcos_cap_v2', trained_betas: null });
    assert.equal(cosine.betas[999], f32(0.999));
    const trained = trainSchedule({ num_train_timesteps: 3, beta_start: 0, beta_end: 0, beta_schedule: 'linear', trained_betas: [0.1, 0.2, 0.3] });
    assert.equal(trained.alphasCumprod[2], f32(0.9 * 0.8 * 0.7));
    assert.throws(
      () => trainSchedule({ num_train_timesteps: 4, beta_start: 0, beta_end: 0, beta_schedule: 'linear', trained_betas: [0.1] }),
      isInvalidArgument,
    );
  });

  it('rescale_betas_zero_snr gives a zero-SNR end (clamped to 2^-24)', () => {
    const t = trainSchedule({ ...SD_TRAIN, trained_betas: null, rescale_betas_zero_snr: true });
    assert.equal(t.alphasCumprod[999], 2 ** -24);
    assertClose(t.alphasCumprod[0], 0.99915, 1e-4, 'ac[0]');
  });

  it('DDIM and LCM keep the exact zero terminal ᾱ under rescale_betas_zero_snr (no 2^-24 floor)', () => {
    const zeroSnr: SchedulerConfig = { ...SD_TRAIN, rescale_betas_zero_snr: true, timestep_spacing: 'trailing' };
    assert.equal(new DdimScheduler(zeroSnr, 4).alphasCumprod[999], 0);
    assert.equal(new LcmScheduler(zeroSnr, 4).alphasCumprod[999], 0);
    // Euler still gets the floor (its σ_max would be infinite otherwise).
    assert.ok(Number.isFinite(new EulerDiscreteScheduler(zeroSnr, 4).sigmas[0]));
  });

  it('caches the training tables per config (one build per model, not per image)', () => {
    const a = trainSchedule({ ...SD_TRAIN, trained_betas: null });
    const b = trainSchedule({ ...SD_TRAIN, trained_betas: null });
    assert.equal(a, b, 'same config -> the same tables object');
    assert.notEqual(trainSchedule({ ...SD_TRAIN, beta_end: 0.02, trained_betas: null }), a);
    assert.notEqual(trainSchedule({ ...SD_TRAIN, trained_betas: null, rescale_betas_zero_snr: true }), a);
    // Schedulers built from one config share the tables.
    const config = { ...SD_TRAIN, _class_name: 'DDIMScheduler' };
    assert.equal(new DdimScheduler(config, 10).alphasCumprod, new DdimScheduler(config, 20).alphasCumprod);
    assert.equal(new LcmScheduler(config, 4).alphasCumprod, a.alphasCumprod);
  });

  it('spaces timesteps per diffusers flavour', () => {
    const base = { numTrainTimesteps: 1000, stepsOffset: 1 };
    assert.deepEqual(spacedTimesteps({ ...base, spacing: 'leading', steps: 4, flavour: 'sigma' }), [751, 501, 251, 1]);
    assert.deepEqual(spacedTimesteps({ ...base, spacing: 'trailing', steps: 3, flavour: 'ddim' }), [999, 666, 332]);
    assert.deepEqual(spacedTimesteps({ ...base, spacing: 'linspace', steps: 4, flavour: 'ddim' }), [999, 666, 333, 0]);
    assert.deepEqual(spacedTimesteps({ ...base, spacing: 'linspace', steps: 4, flavour: 'dpm' }), [999, 749, 500, 250]);
    assert.deepEqual(spacedTimesteps({ ...base, spacing: 'leading', steps: 4, flavour: 'dpm' }), [801, 601, 401, 201]);
    // numpy's arange would give 62 values for N=61 (float error); we keep exactly N.
    assert.equal(spacedTimesteps({ ...base, spacing: 'trailing', steps: 61, flavour: 'sigma' }).length, 61);
  });

  it('rejects an unknown spacing and an out-of-range timestep', () => {
    assert.throws(() => spacedTimesteps({ numTrainTimesteps: 1000, stepsOffset: 0, spacing: 'random', steps: 4, flavour: 'sigma' }), isInvalidArgument);
    assert.throws(() => spacedTimesteps({ numTrainTimesteps: 1000, stepsOffset: 1, spacing: 'leading', steps: 1000, flavour: 'ddim' }), isInvalidArgument);
  });

  it('interpolates the σ table and inverts it with sigmaToT', () => {
    const t = trainSchedule({ ...SD_TRAIN, trained_betas: null });
    assert.equal(interpTrainTable(999, t.sigmas), t.sigmas[999]);
    assert.equal(interpTrainTable(-3, t.sigmas), t.sigmas[0]);
    const mid = interpTrainTable(500.25, t.sigmas);
    assert.ok(mid > t.sigmas[500] && mid < t.sigmas[501]);
    assertClose(sigmaToT(t.sigmas[700], t.logSigmas), 700, 1e-6, 'sigmaToT');
    assert.equal(sigmaToT(1e-6, t.logSigmas), 0);
    assert.equal(sigmaToT(1e6, t.logSigmas), 999);
    const k = karrasSigmas(0.1, 10, 5);
    assertClose(k[0], 10, 1e-12, 'karras max');
    assertClose(k[4], 0.1, 1e-12, 'karras min');
  });
});

describe('reference schedules (docs/engine-reference.md §4.6)', () => {
  it('PNDM, SD1.5 config, 50 steps: 51 timesteps with the second repeated', () => {
    const s = createScheduler(undefined, SD15, 50);
    assert.ok(s instanceof PndmScheduler);
    assert.equal(s.timesteps.length, 51);
    assertEnds(s.timesteps, [981, 961, 961, 941, 921, 901], [61, 41, 21, 1], 'timesteps');
    assert.equal(s.initNoiseSigma, 1);
  });

  it('PNDM, 20 steps: 951, 901, 901, … 101, 51, 1', () => {
    const s = createScheduler('pndm', SD15, 20);
    assertEnds(s.timesteps, [951, 901, 901], [101, 51, 1], 'timesteps');
  });

  for (const [steps, ts, sigmas] of [
    [30, [[999, 964.551697, 930.103455], [68.896553, 34.4482765, 0]], [[14.614645, 11.9175625, 9.81417656], [0.183456972, 0.0291675329, 0]]],
    [20, [[999, 946.421082, 893.842102], [105.157898, 52.578949, 0]], [[14.614645, 10.7468491, 8.08153534], [0.232168198, 0.0291675329, 0]]],
  ] as const) {
    it(`Euler from the SD1.5 config uses linspace (${steps} steps)`, () => {
      const s = createScheduler('euler', SD15, steps);
      assert.ok(s instanceof EulerDiscreteScheduler);
      assert.equal(s.timesteps.length, steps);
      assertEnds(s.timesteps, ts[0], ts[1], 'timesteps');
      assertEnds(s.sigmas as Float32Array, sigmas[0], sigmas[1], 'sigmas');
      assertClose(s.initNoiseSigma, 14.614645, 1e-6, 'init_noise_sigma');
    });
  }

  for (const [steps, ts, sigmas, init] of [
    [30, [[958, 925, 892], [67, 34, 1]], [[11.4768496, 9.54358482, 8.00431252], [0.182166368, 0.041314479, 0]], 11.5203333],
    [50, [[981, 961, 941], [41, 21, 1]], [[13.1204147, 11.6760502, 10.4250441], [0.141463667, 0.041314479, 0]], 13.1584682],
  ] as const) {
    it(`Euler leading with offset 1 (SDXL config, ${steps} steps)`, () => {
      const s = createScheduler(undefined, SDXL, steps);
      assertEnds(s.timesteps, ts[0], ts[1], 'timesteps');
      assertEnds(s.sigmas as Float32Array, sigmas[0], sigmas[1], 'sigmas');
      assertClose(s.initNoiseSigma, init, 1e-6, 'init_noise_sigma');
    });
  }

  it('Euler leading + Karras, 30 steps', () => {
    const s = createScheduler('euler', { ...SDXL, use_karras_sigmas: true }, 30);
    assertEnds(s.timesteps, [958, 934.072021, 908.794312], [], 'timesteps');
    assertClose(s.timesteps[27], 5.20452976, 1e-6, 'timesteps[27]');
    assertClose(s.timesteps[28], 2.60091209, 1e-6, 'timesteps[28]');
    // The last Karras timestep is σ_min mapped back through float32 logs: 1 within one float32 ulp.
    assertClose(s.timesteps[29], 1, 2.5e-7, 'timesteps[29]');
    assertEnds(s.sigmas as Float32Array, [11.4768496, 10.0312929, 8.74469471], [0.0553089939, 0.041314479, 0], 'sigmas');
    assertClose(s.initNoiseSigma, 11.5203333, 1e-6, 'init_noise_sigma');
  });

  for (const [steps, ts, sigmas] of [
    [1, [999], [14.614645, 0]],
    [2, [999, 499], [14.614645, 1.61288702, 0]],
    [4, [999, 749, 499, 249], [14.614645, 4.08173084, 1.61288702, 0.693205416, 0]],
  ] as const) {
    it(`Euler trailing (sd-turbo, ${steps} steps)`, () => {
      const s = createScheduler(undefined, SD_TURBO, steps);
      assert.deepEqual([...s.timesteps], [...ts]);
      assertEnds(s.sigmas as Float32Array, sigmas, [], 'sigmas');
      assertClose(s.initNoiseSigma, 14.614645, 1e-6, 'init_noise_sigma');
    });
  }

  it('Euler ancestral and LMS from the SD1.5 config match Euler linspace', () => {
    const euler = createScheduler('euler', SD15, 30);
    for (const name of ['euler_a', 'lms'] as const) {
      const s = createScheduler(name, SD15, 30);
      assert.deepEqual([...s.timesteps], [...euler.timesteps], name);
      assert.deepEqual(Array.from(s.sigmas as Float32Array), Array.from(euler.sigmas as Float32Array), name);
      assertClose(s.initNoiseSigma, 14.614645, 1e-6, `${name} init_noise_sigma`);
    }
  });

  it('DDIM, SD2.1 config (leading, offset 1), 50 and 30 steps', () => {
    const s50 = createScheduler(undefined, SD21, 50);
    assertEnds(s50.timesteps, [981, 961, 941], [41, 21, 1], 'timesteps 50');
    const s30 = createScheduler(undefined, SD21, 30);
    assertEnds(s30.timesteps, [958, 925, 892], [67, 34, 1], 'timesteps 30');
    assert.equal(s50.initNoiseSigma, 1);
  });

  it('DPM++ 2M from the SD1.5 config (linspace), 25 steps', () => {
    const s = createScheduler('dpmpp_2m', SD15, 25);
    assert.ok(s instanceof DpmSolverMultistepScheduler);
    assertEnds(s.timesteps, [999, 959, 919, 879], [120, 80, 40], 'timesteps');
    assertEnds(s.sigmas as Float32Array, [14.614645, 11.5427742, 9.2374258], [0.298264027, 0.199058905, 0], 'sigmas');
    assert.equal(s.initNoiseSigma, 1);
  });

  it('DPM++ 2M Karras, 25 steps', () => {
    const s = createScheduler('dpmpp_2m_karras', SD15, 25);
    assert.deepEqual(
      [...s.timesteps],
      [999, 970, 938, 905, 868, 829, 786, 739, 687, 630, 568, 500, 427, 352, 278, 207, 146, 96, 59, 34, 18, 9, 4, 1, 0],
    );
    assertEnds(s.sigmas as Float32Array, [14.614645, 12.28304, 10.2778311], [0.0437428541, 0.0291675329, 0], 'sigmas');
    assert.equal(s.initNoiseSigma, 1);
  });

  it('LCM Dreamshaper v7: 4 steps 999, 759, 499, 259; 8 steps; 1 step', () => {
    assert.deepEqual([...createScheduler(undefined, LCM_DREAMSHAPER, 4).timesteps], [999, 759, 499, 259]);
    assertEnds(createScheduler(undefined, LCM_DREAMSHAPER, 8).timesteps, [999, 879, 759], [379, 259, 139], 'timesteps 8');
    assert.deepEqual([...createScheduler(undefined, LCM_DREAMSHAPER, 1).timesteps], [999]);
    assert.equal(createScheduler(undefined, LCM_DREAMSHAPER, 4).initNoiseSigma, 1);
  });
});

describe('reference trajectories (docs/engine-reference.md §4.7)', () => {
  const base: SchedulerConfig = { ...SD_TRAIN, steps_offset: 1 };
  const cases: [string, SamplerName, SchedulerConfig, number, number | undefined, number[], number, number][] = [
    ['pndm_sd15_50', 'pndm', { ...base, set_alpha_to_one: false, skip_prk_steps: true }, 50, undefined, [7.219549, 7.864701, 0.5579306, -7.982955], 3.123378, 97.11688],
    ['euler_linspace_30', 'euler', base, 30, undefined, [7.988404, 8.70685, 0.5699804, -8.941207], 2.656864, 108.0473],
    ['euler_leading_30', 'euler', { ...base, timestep_spacing: 'leading' }, 30, undefined, [6.485902, 7.064521, 0.5113022, -7.148754], 2.97585, 87.12297],
    ['euler_leading_karras_30', 'euler', { ...base, timestep_spacing: 'leading', use_karras_sigmas: true }, 30, undefined, [6.495302, 7.074809, 0.5115232, -7.160302], 2.971386, 87.25568],
    ['euler_trailing_4', 'euler', { ...base, timestep_spacing: 'trailing' }, 4, undefined, [8.52482, 9.301851, 0.5014908, -9.78525], 1.034041, 116.6277],
    ['euler_a_trailing_1', 'euler_a', { ...base, timestep_spacing: 'trailing' }, 1, undefined, [9.610885, 10.50325, 0.396655, -11.41694], -1.68083, 133.5802],
    ['euler_a_linspace_20', 'euler_a', base, 20, undefined, [8.182596, 7.839851, -0.9988539, -10.20726], -6.214115, 109.342],
    ['ddim_leading_50 eps η=0', 'ddim', { ...base, set_alpha_to_one: false }, 50, 0, [7.271994, 7.922889, 0.5511116, -8.065755], 2.962658, 97.95729],
    ['ddim_leading_50 v_pred η=0', 'ddim', { ...base, set_alpha_to_one: false, prediction_type: 'v_prediction' }, 50, 0, [0.6578357, 0.7148501, 0.06912669, -0.6856588], 0.5931523, 8.622176],
    ['ddim_leading_20 eps η=1', 'ddim', { ...base, set_alpha_to_one: false }, 20, 1, [6.458088, 6.207894, -0.6931579, -7.90027], -3.724487, 85.47682],
    ['dpmpp2m_linspace_25', 'dpmpp_2m', base, 25, undefined, [7.917032, 8.627247, 0.5835884, -8.818646], 2.948621, 106.8499],
    ['dpmpp2m_karras_25', 'dpmpp_2m_karras', base, 25, undefined, [7.901618, 8.610085, 0.5861955, -8.792931], 3.006026, 106.5954],
    ['lms_linspace_30', 'lms', base, 30, undefined, [7.900576, 8.609591, 0.5795381, -8.80679], 2.894622, 106.663],
    ['lcm_4', 'lcm', { ...base, set_alpha_to_one: true, steps_offset: 0, original_inference_steps: 50 }, 4, undefined, [9.669183, 9.215965, -1.09725, -11.78854], -5.362346, 127.2608],
  ];
  for (const [label, name, config, steps, eta, first4, expectedSum, expectedAbs] of cases) {
    it(label, () => {
      const latents = runTrajectory(createScheduler(name, config, steps, { eta }));
      first4.forEach((e, i) => assertClose(latents[i], e, 1e-5, `latents[${i}]`));
      let sum = 0;
      let abs = 0;
      for (const v of latents) {
        sum += v;
        abs += Math.abs(v);
      }
      assertClose(sum, expectedSum, 1e-5, 'sum');
      assertClose(abs, expectedAbs, 1e-5, 'sum of abs');
    });
  }
});

describe('noise consumption', () => {
  function noiseCalls(name: SamplerName, config: SchedulerConfig, steps: number, eta?: number): number {
    const noise = new MockNoise();
    runTrajectory(createScheduler(name, config, steps, { eta }), noise);
    return noise.calls;
  }

  it('Euler ancestral draws on every step, including the last', () => {
    assert.equal(noiseCalls('euler_a', SD15, 7), 7);
  });

  it('LCM draws on every step but the last', () => {
    assert.equal(noiseCalls('lcm', LCM_DREAMSHAPER, 4), 3);
  });

  it('DDIM draws only when eta > 0', () => {
    assert.equal(noiseCalls('ddim', SD21, 10), 0);
    assert.equal(noiseCalls('ddim', SD21, 10, 0.5), 10);
  });

  it('deterministic samplers never draw', () => {
    for (const name of ['euler', 'dpmpp_2m', 'dpmpp_2m_karras', 'pndm', 'lms'] as const) assert.equal(noiseCalls(name, SD15, 6), 0, name);
  });

  it('DPM++ SDE draws on every step', () => {
    assert.equal(noiseCalls('dpmpp_2m', { ...SD15, _class_name: 'DPMSolverMultistepScheduler', algorithm_type: 'sde-dpmsolver++' }, 6), 6);
  });
});

describe('LCM step results', () => {
  it('returns the denoised prediction, equal to the last prevSample', () => {
    const s = createScheduler(undefined, LCM_DREAMSHAPER, 2);
    const x = new Float32Array([0.5, -0.25, 1, 2]);
    const m = new Float32Array([0.1, 0.2, -0.3, 0.4]);
    const noise = new MockNoise();
    const first = s.step(m, 0, x, noise);
    assert.ok(first.denoised);
    const last = s.step(m, 1, first.prevSample, noise);
    assert.deepEqual(Array.from(last.prevSample), Array.from(last.denoised as Float32Array));
  });
});

describe('samplerFromConfig', () => {
  const table: [string, Record<string, unknown>, SamplerName][] = [
    ['EulerDiscreteScheduler', {}, 'euler'],
    ['EulerAncestralDiscreteScheduler', {}, 'euler_a'],
    ['DDIMScheduler', {}, 'ddim'],
    ['DPMSolverMultistepScheduler', {}, 'dpmpp_2m'],
    ['DPMSolverMultistepScheduler', { use_karras_sigmas: true }, 'dpmpp_2m_karras'],
    ['LCMScheduler', {}, 'lcm'],
    ['PNDMScheduler', {}, 'pndm'],
    ['LMSDiscreteScheduler', {}, 'lms'],
  ];
  for (const [className, extra, sampler] of table) {
    it(`maps ${className}${extra.use_karras_sigmas ? ' (Karras)' : ''} to ${sampler}`, () => {
      assert.equal(samplerFromConfig({ _class_name: className, ...extra }), sampler);
    });
  }

  it('rejects a missing or unknown class name with invalid_argument', () => {
    assert.throws(() => samplerFromConfig({}), isInvalidArgument);
    assert.throws(() => samplerFromConfig({ _class_name: 'HeunDiscreteScheduler' }), (err: unknown) => isInvalidArgument(err) && /HeunDiscreteScheduler/.test((err as Error).message));
  });
});

describe('createScheduler', () => {
  it('builds every sampler name from the SD1.5 config', () => {
    for (const name of SAMPLER_NAMES) {
      const config = name === 'lcm' ? LCM_DREAMSHAPER : SD15;
      const s = createScheduler(name, config, 8);
      assert.ok(s.timesteps.length >= 8, name);
      const latents = runTrajectory(s);
      assert.ok(latents.every(Number.isFinite), name);
    }
  });

  it('keeps only keys the target class accepts, with that class defaults (the timestep_spacing trap)', () => {
    // PNDM/DDIM default to leading, Euler to linspace: "Euler from SD1.5" is linspace, "Euler from SDXL" leading.
    assert.equal(createScheduler('euler', SD15, 30).timesteps[0], 999);
    assert.equal(createScheduler('euler', SDXL, 30).timesteps[0], 958);
    assert.equal(createScheduler('pndm', { ...SD15, timestep_spacing: undefined }, 50).timesteps[0], 981);
    // DDIM built from the SDXL Euler config keeps leading + offset and ignores Euler-only keys.
    assert.equal(createScheduler('ddim', { ...SDXL, interpolation_type: 'log_linear' }, 50).timesteps[0], 981);
  });

  it('dpmpp_2m_karras forces Karras σ and dpmpp_2m turns it off', () => {
    const karrasConfig = { ...SD15, _class_name: 'DPMSolverMultistepScheduler', use_karras_sigmas: true };
    assert.equal(createScheduler(undefined, karrasConfig, 25).timesteps[1], 970);
    assert.equal(createScheduler('dpmpp_2m', karrasConfig, 25).timesteps[1], 959);
    assert.equal(createScheduler('dpmpp_2m_karras', SD15, 25).timesteps[1], 970);
  });

  it('PNDM without skip_prk_steps runs 12 Runge-Kutta evaluations first', () => {
    const s = createScheduler('pndm', { ...SD15, skip_prk_steps: false }, 10) as PndmScheduler;
    assert.equal(s.prkCount, 12);
    assert.equal(s.timesteps.length, 10 + 9);
    // _timesteps = 1, 101, …, 901; PRK on the last four with half-steps of 50, then PLMS from 601 down.
    assert.deepEqual(s.timesteps.slice(0, 12), [901, 851, 851, 801, 801, 751, 751, 701, 701, 651, 651, 601]);
    assert.deepEqual(s.timesteps.slice(12), [601, 501, 401, 301, 201, 101, 1]);
    assert.ok(runTrajectory(s).every(Number.isFinite));
    assert.throws(() => createScheduler('pndm', { ...SD15, skip_prk_steps: false }, 3), isInvalidArgument);
  });

  it('honours the optional σ and solver settings (smoke: finite trajectories, expected shapes)', () => {
    const dpm: SchedulerConfig = { ...SD15, _class_name: 'DPMSolverMultistepScheduler' };
    const variants: [SamplerName, SchedulerConfig][] = [
      ['euler', { ...SD15, final_sigmas_type: 'sigma_min' }],
      ['euler', { ...SD15, use_exponential_sigmas: true }],
      ['euler', { ...SD15, prediction_type: 'v_prediction', timestep_type: 'continuous' }],
      ['lms', { ...SD15, use_karras_sigmas: true }],
      ['dpmpp_2m', { ...dpm, solver_order: 3 }],
      ['dpmpp_2m', { ...dpm, solver_type: 'heun' }],
      ['dpmpp_2m', { ...dpm, algorithm_type: 'deis', solver_type: 'bh2' }],
      ['dpmpp_2m', { ...dpm, algorithm_type: 'sde-dpmsolver++', solver_order: 3, solver_type: 'heun' }],
      ['dpmpp_2m', { ...dpm, use_exponential_sigmas: true, final_sigmas_type: 'sigma_min', lower_order_final: false }],
      ['dpmpp_2m', { ...dpm, lambda_min_clipped: -5.1 }],
      ['ddim', { ...SD21, timestep_spacing: 'trailing', rescale_betas_zero_snr: true }],
      ['lcm', { ...LCM_DREAMSHAPER, prediction_type: 'v_prediction', clip_sample: true }],
    ];
    for (const [name, config] of variants) {
      const s = createScheduler(name, config, 20);
      assert.ok(runTrajectory(s).every(Number.isFinite), `${name} ${JSON.stringify(config)}`);
    }
    const sigmaMin = createScheduler('euler', { ...SD15, final_sigmas_type: 'sigma_min' }, 10).sigmas as Float32Array;
    assertClose(sigmaMin[10], 0.0291675329, 1e-6, 'final sigma_min');
    const continuous = createScheduler('euler', { ...SD15, prediction_type: 'v_prediction', timestep_type: 'continuous' }, 10);
    assertClose(continuous.timesteps[0], 0.25 * Math.log(14.614645), 1e-6, 'continuous timestep');
    // lambda_min_clipped cuts the top of the schedule: the first timestep drops below 999.
    assert.ok(createScheduler('dpmpp_2m', { ...dpm, lambda_min_clipped: -2 }, 10).timesteps[0] < 999);
  });

  it('never writes into an array it returned or keeps the caller\'s model output (multistep buffers are reused)', () => {
    const dpm: SchedulerConfig = { ...SD15, _class_name: 'DPMSolverMultistepScheduler' };
    const variants: [SamplerName, SchedulerConfig][] = [
      ['pndm', SD15],
      ['pndm', { ...SD15, skip_prk_steps: false }],
      ['dpmpp_2m', dpm],
      ['dpmpp_2m', { ...dpm, solver_order: 3 }],
      ['dpmpp_2m', { ...dpm, prediction_type: 'sample' }],
      ['lms', SD15],
    ];
    for (const [name, config] of variants) {
      const s = createScheduler(name, config, 8);
      const expected = runTrajectory(createScheduler(name, config, 8));
      const returned: [Float32Array, Float32Array][] = [];
      // runTrajectory's loop, but the model output buffer is clobbered after each step.
      let latents: Float32Array = new Float32Array(16);
      for (let i = 0; i < 16; i++) latents[i] = f32(Math.sin(i + 1)) * s.initNoiseSigma;
      const noise = new MockNoise();
      for (let index = 0; index < s.timesteps.length; index++) {
        const input = s.scaleModelInput(latents, index);
        const bias = f32(f32(s.timesteps[index]) * f32(1e-4));
        const output = new Float32Array(16);
        for (let i = 0; i < 16; i++) output[i] = f32(input[i] * f32(0.1)) + bias;
        latents = s.step(output, index, latents, noise).prevSample;
        output.fill(Number.NaN);
        returned.push([latents, latents.slice()]);
      }
      for (const [array, copy] of returned) assert.deepEqual(array, copy, `${name} ${JSON.stringify(config)}`);
      assert.deepEqual(latents, expected, `${name} ${JSON.stringify(config)}`);
    }
  });

  for (const steps of [0, -1, 2.5, Number.NaN]) {
    it(`rejects steps ${steps} with invalid_argument`, () => {
      assert.throws(() => createScheduler('euler', SD15, steps), isInvalidArgument);
    });
  }

  it('rejects steps above num_train_timesteps, an unknown class and an unknown sampler', () => {
    assert.throws(() => createScheduler('euler', SD15, 1001), isInvalidArgument);
    assert.throws(() => createScheduler(undefined, { ...SD15, _class_name: 'UniPCMultistepScheduler' }, 20), isInvalidArgument);
    assert.throws(() => createScheduler('heun' as SamplerName, SD15, 20), isInvalidArgument);
    assert.throws(() => createScheduler('lcm', LCM_DREAMSHAPER, 51), isInvalidArgument);
  });

  it('rejects config values of the wrong type or unsupported options', () => {
    assert.throws(() => createScheduler('euler', { ...SD15, timestep_spacing: 3 as never }, 20), isInvalidArgument);
    assert.throws(() => createScheduler('euler', { ...SD15, timestep_spacing: 'sideways' as never }, 20), isInvalidArgument);
    assert.throws(() => createScheduler('dpmpp_2m', { ...SD15, algorithm_type: 'dpmsolver' }, 20), isInvalidArgument);
    assert.throws(() => createScheduler('ddim', SD15, 20, { eta: -1 }), isInvalidArgument);
  });

  it('enforces consecutive step indices after the first call', () => {
    const s = createScheduler('euler', SD15, 5);
    const x = new Float32Array(4);
    s.step(x, 2, x, new MockNoise());
    assert.throws(() => s.step(x, 4, x, new MockNoise()), isInvalidArgument);
    assert.throws(() => s.scaleModelInput(x, 5), isInvalidArgument);
    assert.throws(() => s.step(new Float32Array(3), 3, x, new MockNoise()), isInvalidArgument);
  });
});
