/**
 * Latent Consistency Model multistep sampling (Luo et al. 2023) — diffusers `LCMScheduler`.
 *
 * Each step predicts the consistency-model output `denoised`, then (except at the last step) re-noises it to the
 * next timestep with fresh noise. The pipeline decodes `denoised` of the last step (equal to its `prevSample`).
 */
import type { NoiseSource } from '../noise/types.ts';
import { EngineError } from '../errors.ts';
import { resolveSchedulerConfig } from './config.ts';
import { addNoiseScaled, alphaBarScales, checkNoiseIndex, checkSameLength, drawNoise, StepTracker } from './common.ts';
import { trainSchedule } from './schedule.ts';
import type { PredictionType, Scheduler, SchedulerConfig, StepResult } from './types.ts';

const f32 = Math.fround;

/** `LCMScheduler.__init__` defaults (note the SD training betas are LCM's own defaults). */
export const LCM_DEFAULTS = {
  num_train_timesteps: 1000,
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  trained_betas: null,
  original_inference_steps: 50,
  clip_sample: false,
  clip_sample_range: 1.0,
  set_alpha_to_one: true,
  steps_offset: 0,
  prediction_type: 'epsilon',
  thresholding: false,
  dynamic_thresholding_ratio: 0.995,
  sample_max_value: 1.0,
  timestep_spacing: 'leading',
  timestep_scaling: 10.0,
  rescale_betas_zero_snr: false,
} as const;

/**
 * How many origin timesteps an LCM schedule picks from: int(original_inference_steps × strength), with Python's
 * float product and truncation (e.g. 50 × 0.3 = 15.000000000000002 → 15).
 */
export function lcmOriginCount(originalInferenceSteps: number, strength: number): number {
  return Math.trunc(originalInferenceSteps * strength);
}

/** σ_data of the consistency boundary condition. */
const SIGMA_DATA = 0.5;

export class LcmScheduler implements Scheduler {
  static readonly className = 'LCMScheduler';
  readonly timesteps: readonly number[];
  readonly initNoiseSigma = 1;
  readonly predictionType: PredictionType;
  readonly alphasCumprod: Float32Array;
  readonly finalAlphaCumprod: number;
  readonly #timestepScaling: number;
  readonly #clipRange: number | undefined;
  readonly #tracker: StepTracker;

  /**
   * @param options.strength image-to-image strength in (0, 1]: the schedule is taken from the first
   *   int(original_inference_steps × strength) origin timesteps, as `LCMScheduler.set_timesteps(..., strength)` does for
   *   diffusers' LatentConsistencyModelImg2ImgPipeline (default 1: text-to-image; docs/engine-reference.md §4.9)
   * @throws {EngineError} `invalid_argument` for an invalid step count, strength or config value
   */
  constructor(config: SchedulerConfig, steps: number, options: { strength?: number } = {}) {
    const name = LcmScheduler.className;
    const c = resolveSchedulerConfig(name, LCM_DEFAULTS, config, steps);
    const T = c.num_train_timesteps;
    if (c.thresholding) {
      throw new EngineError('invalid_argument', `Cannot build ${name}: thresholding is not supported`);
    }
    const original = c.original_inference_steps;
    if (!Number.isInteger(original) || original < 1 || original > T) {
      throw new EngineError(
        'invalid_argument',
        `Cannot build ${name}: original_inference_steps must be an integer in [1, ${T}]: current value is ${original}`,
      );
    }
    if (steps > original) {
      throw new EngineError(
        'invalid_argument',
        `Cannot schedule ${name}: steps must not exceed original_inference_steps (${original}): current value is ${steps}`,
      );
    }
    const strength = options.strength ?? 1;
    if (!(strength > 0 && strength <= 1)) {
      throw new EngineError('invalid_argument', `Cannot schedule ${name}: strength must be in (0, 1]: current value is ${strength}`);
    }
    // int(original_steps × strength) origin timesteps; fewer than `steps` leaves no schedule (diffusers raises too).
    const originCount = lcmOriginCount(original, strength);
    if (originCount < steps) {
      throw new EngineError(
        'invalid_argument',
        `Cannot schedule ${name}: int(original_inference_steps × strength) = int(${original} × ${strength}) = ${originCount} must be at least steps: current value is ${steps}`,
      );
    }
    const train = trainSchedule({ ...c, terminal_alpha_floor: false });
    this.alphasCumprod = train.alphasCumprod;
    this.finalAlphaCumprod = c.set_alpha_to_one ? 1 : train.alphasCumprod[0];
    // Origin schedule k·[1..int(original·strength)] − 1, reversed; pick floor(linspace(0, len, N, endpoint=False)).
    const k = Math.floor(T / original);
    const origin: number[] = [];
    for (let i = originCount; i >= 1; i--) origin.push(i * k - 1);
    const stride = origin.length / steps;
    this.timesteps = Array.from({ length: steps }, (_, i) => origin[Math.floor(i * stride)]);
    this.predictionType = c.prediction_type;
    this.#timestepScaling = c.timestep_scaling;
    this.#clipRange = c.clip_sample ? c.clip_sample_range : undefined;
    this.#tracker = new StepTracker(name, steps);
  }

  scaleModelInput(sample: Float32Array, index: number): Float32Array {
    this.#tracker.check(index);
    return sample;
  }

  /** diffusers `get_scalings_for_boundary_condition_discrete`: `[c_skip, c_out]` in float32. */
  boundaryScalings(timestep: number): [number, number] {
    const scaled = f32(timestep * this.#timestepScaling);
    const denom = f32(f32(scaled * scaled) + SIGMA_DATA ** 2);
    return [f32(SIGMA_DATA ** 2 / denom), f32(scaled / f32(Math.sqrt(denom)))];
  }

  step(modelOutput: Float32Array, index: number, sample: Float32Array, noise: NoiseSource): StepResult {
    const name = LcmScheduler.className;
    checkSameLength(name, modelOutput, sample);
    this.#tracker.advance(index);
    const t = this.timesteps[index];
    const last = index === this.timesteps.length - 1;
    const prevT = last ? t : this.timesteps[index + 1];
    const alphaT = this.alphasCumprod[t];
    const alphaPrev = prevT >= 0 ? this.alphasCumprod[prevT] : this.finalAlphaCumprod;
    const sqrtAlphaT = f32(Math.sqrt(alphaT));
    const sqrtBetaT = f32(Math.sqrt(f32(1 - alphaT)));
    const [cSkip, cOut] = this.boundaryScalings(t);
    const clip = this.#clipRange;
    const prediction = this.predictionType;
    const n = sample.length;
    const denoised = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const x = sample[i];
      const m = modelOutput[i];
      let x0 =
        prediction === 'epsilon'
          ? f32(f32(x - f32(sqrtBetaT * m)) / sqrtAlphaT)
          : prediction === 'v_prediction'
            ? f32(f32(sqrtAlphaT * x) - f32(sqrtBetaT * m))
            : m;
      if (clip !== undefined) x0 = Math.min(Math.max(x0, -clip), clip);
      denoised[i] = f32(cOut * x0) + f32(cSkip * x);
    }
    if (last) return { prevSample: denoised, denoised };
    const eps = drawNoise(name, noise, n);
    const sqrtAlphaPrev = f32(Math.sqrt(alphaPrev));
    const sqrtBetaPrev = f32(Math.sqrt(f32(1 - alphaPrev)));
    const prevSample = new Float32Array(n);
    for (let i = 0; i < n; i++) prevSample[i] = f32(sqrtAlphaPrev * denoised[i]) + f32(sqrtBetaPrev * eps[i]);
    return { prevSample, denoised };
  }

  addNoise(original: Float32Array, noise: Float32Array, index: number): Float32Array {
    checkNoiseIndex(LcmScheduler.className, index, this.timesteps.length);
    checkSameLength(LcmScheduler.className, noise, original, 'noise');
    return addNoiseScaled(original, noise, ...alphaBarScales(this.alphasCumprod[this.timesteps[index]]));
  }
}
