/**
 * DDIM (Song et al. 2020) — diffusers `DDIMScheduler`, with the `eta` option (η = 0 deterministic, η = 1 DDPM-like).
 *
 * `clip_sample` / `thresholding` are accepted but not applied: diffusers' Stable Diffusion pipelines (torch and ONNX)
 * force `clip_sample=False`, and SD configs never enable thresholding.
 */
import type { NoiseSource } from '../noise/types.ts';
import { EngineError } from '../errors.ts';
import { resolveSchedulerConfig, TRAIN_DEFAULTS } from './config.ts';
import { addNoiseScaled, alphaBarScales, checkNoiseIndex, checkSameLength, drawNoise, StepTracker } from './common.ts';
import { spacedTimesteps, trainSchedule } from './schedule.ts';
import type { PredictionType, Scheduler, SchedulerConfig, StepResult } from './types.ts';

const f32 = Math.fround;

/** `DDIMScheduler.__init__` defaults. */
export const DDIM_DEFAULTS = {
  ...TRAIN_DEFAULTS,
  clip_sample: true,
  set_alpha_to_one: true,
  steps_offset: 0,
  prediction_type: 'epsilon',
  thresholding: false,
  dynamic_thresholding_ratio: 0.995,
  clip_sample_range: 1.0,
  sample_max_value: 1.0,
  timestep_spacing: 'leading',
  rescale_betas_zero_snr: false,
} as const;

export interface DdimOptions {
  /** Weight of the added noise: 0 = DDIM (default), 1 = DDPM-like ancestral sampling. */
  eta?: number;
}

export class DdimScheduler implements Scheduler {
  static readonly className = 'DDIMScheduler';
  readonly timesteps: readonly number[];
  readonly initNoiseSigma = 1;
  readonly predictionType: PredictionType;
  readonly eta: number;
  readonly alphasCumprod: Float32Array;
  readonly finalAlphaCumprod: number;
  readonly #stepRatio: number;
  readonly #tracker: StepTracker;

  /** @throws {EngineError} `invalid_argument` for an invalid step count, eta or config value */
  constructor(config: SchedulerConfig, steps: number, options: DdimOptions = {}) {
    const name = DdimScheduler.className;
    const c = resolveSchedulerConfig(name, DDIM_DEFAULTS, config, steps);
    const eta = options.eta ?? 0;
    if (!Number.isFinite(eta) || eta < 0) {
      throw new EngineError('invalid_argument', `Cannot build ${name}: eta must be a finite number >= 0: current value is ${eta}`);
    }
    const train = trainSchedule({ ...c, terminal_alpha_floor: false });
    this.alphasCumprod = train.alphasCumprod;
    this.finalAlphaCumprod = c.set_alpha_to_one ? 1 : train.alphasCumprod[0];
    this.timesteps = spacedTimesteps({
      spacing: c.timestep_spacing,
      steps,
      numTrainTimesteps: c.num_train_timesteps,
      stepsOffset: c.steps_offset,
      flavour: 'ddim',
    });
    this.#stepRatio = Math.floor(c.num_train_timesteps / steps);
    this.predictionType = c.prediction_type;
    this.eta = eta;
    this.#tracker = new StepTracker(name, this.timesteps.length);
  }

  scaleModelInput(sample: Float32Array, index: number): Float32Array {
    this.#tracker.check(index);
    return sample;
  }

  step(modelOutput: Float32Array, index: number, sample: Float32Array, noise: NoiseSource): StepResult {
    const name = DdimScheduler.className;
    checkSameLength(name, modelOutput, sample);
    this.#tracker.advance(index);
    const t = this.timesteps[index];
    const prevT = t - this.#stepRatio;
    const alphaT = this.alphasCumprod[t];
    const alphaPrev = prevT >= 0 ? this.alphasCumprod[prevT] : this.finalAlphaCumprod;
    const betaT = f32(1 - alphaT);
    const betaPrev = f32(1 - alphaPrev);
    const sqrtAlphaT = f32(Math.sqrt(alphaT));
    const sqrtBetaT = f32(Math.sqrt(betaT));
    const variance = f32(f32(betaPrev / betaT) * f32(1 - f32(alphaT / alphaPrev)));
    const std = f32(f32(this.eta) * f32(Math.sqrt(variance)));
    const dirCoeff = f32(Math.sqrt(Math.max(0, f32(betaPrev - f32(std * std)))));
    const sqrtAlphaPrev = f32(Math.sqrt(alphaPrev));
    const n = sample.length;
    const eps = this.eta > 0 ? drawNoise(name, noise, n) : undefined;
    const prevSample = new Float32Array(n);
    const denoised = new Float32Array(n);
    const prediction = this.predictionType;
    for (let i = 0; i < n; i++) {
      const x = sample[i];
      const m = modelOutput[i];
      let x0: number;
      let e: number;
      if (prediction === 'epsilon') {
        x0 = f32(f32(x - f32(sqrtBetaT * m)) / sqrtAlphaT);
        e = m;
      } else if (prediction === 'v_prediction') {
        x0 = f32(f32(sqrtAlphaT * x) - f32(sqrtBetaT * m));
        e = f32(f32(sqrtAlphaT * m) + f32(sqrtBetaT * x));
      } else {
        x0 = m;
        e = f32(f32(x - f32(sqrtAlphaT * x0)) / sqrtBetaT);
      }
      denoised[i] = x0;
      let prev = f32(f32(sqrtAlphaPrev * x0) + f32(dirCoeff * e));
      if (eps !== undefined) prev = f32(prev + f32(std * eps[i]));
      prevSample[i] = prev;
    }
    return { prevSample, denoised };
  }

  addNoise(original: Float32Array, noise: Float32Array, index: number): Float32Array {
    checkNoiseIndex(DdimScheduler.className, index, this.timesteps.length);
    checkSameLength(DdimScheduler.className, noise, original, 'noise');
    return addNoiseScaled(original, noise, ...alphaBarScales(this.alphasCumprod[this.timesteps[index]]));
  }
}
