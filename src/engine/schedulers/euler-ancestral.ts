/**
 * Euler ancestral — diffusers `EulerAncestralDiscreteScheduler`. Each step moves to σ_down deterministically, then
 * adds fresh noise scaled by σ_up; the noise is drawn on every step, including the last where σ_up = 0, so the
 * generator stream stays aligned with diffusers.
 */
import type { NoiseSource } from '../noise/types.ts';
import { resolveSchedulerConfig, TRAIN_DEFAULTS } from './config.ts';
import { addNoiseSigma, checkNoiseIndex, checkSameLength, drawNoise, scaleBySigma, StepTracker } from './common.ts';
import { sigmaToX0, vCoefficients } from './euler.ts';
import { sigmaSamplerSchedule, trainSchedule } from './schedule.ts';
import type { PredictionType, Scheduler, SchedulerConfig, StepResult } from './types.ts';

const f32 = Math.fround;

/** `EulerAncestralDiscreteScheduler.__init__` defaults. */
export const EULER_ANCESTRAL_DEFAULTS = {
  ...TRAIN_DEFAULTS,
  prediction_type: 'epsilon',
  timestep_spacing: 'linspace',
  steps_offset: 0,
  rescale_betas_zero_snr: false,
} as const;

export class EulerAncestralDiscreteScheduler implements Scheduler {
  static readonly className = 'EulerAncestralDiscreteScheduler';
  readonly timesteps: readonly number[];
  readonly sigmas: Float32Array;
  readonly initNoiseSigma: number;
  readonly predictionType: PredictionType;
  readonly #tracker: StepTracker;

  /** @throws {EngineError} `invalid_argument` for an invalid step count or config value */
  constructor(config: SchedulerConfig, steps: number) {
    const name = EulerAncestralDiscreteScheduler.className;
    const c = resolveSchedulerConfig(name, EULER_ANCESTRAL_DEFAULTS, config, steps);
    const schedule = sigmaSamplerSchedule(trainSchedule(c), c, steps, { ramp: 'none', finalSigma: 0 });
    this.predictionType = c.prediction_type;
    this.timesteps = schedule.timesteps;
    this.sigmas = schedule.sigmas;
    this.initNoiseSigma = schedule.initNoiseSigma;
    this.#tracker = new StepTracker(name, schedule.timesteps.length);
  }

  scaleModelInput(sample: Float32Array, index: number): Float32Array {
    this.#tracker.check(index);
    return scaleBySigma(sample, this.sigmas[index]);
  }

  step(modelOutput: Float32Array, index: number, sample: Float32Array, noise: NoiseSource): StepResult {
    const name = EulerAncestralDiscreteScheduler.className;
    checkSameLength(name, modelOutput, sample);
    this.#tracker.advance(index);
    const sigmaFrom = this.sigmas[index];
    const sigmaTo = this.sigmas[index + 1];
    const from2 = f32(sigmaFrom * sigmaFrom);
    const to2 = f32(sigmaTo * sigmaTo);
    const sigmaUp = f32(Math.sqrt(f32(f32(to2 * f32(from2 - to2)) / from2)));
    // max(0, …) only guards a rounding-negative radicand (torch would return NaN there).
    const sigmaDown = f32(Math.sqrt(Math.max(0, f32(to2 - f32(sigmaUp * sigmaUp)))));
    const dt = f32(sigmaDown - sigmaFrom);
    const [vOut, vIn] = vCoefficients(sigmaFrom);
    const prediction = this.predictionType;
    const n = sample.length;
    const eps = drawNoise(name, noise, n);
    const prevSample = new Float32Array(n);
    const denoised = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const x = sample[i];
      const x0 = sigmaToX0(prediction, modelOutput[i], x, sigmaFrom, vOut, vIn);
      denoised[i] = x0;
      const derivative = f32(f32(x - x0) / sigmaFrom);
      prevSample[i] = f32(x + f32(derivative * dt)) + f32(eps[i] * sigmaUp);
    }
    return { prevSample, denoised };
  }

  addNoise(original: Float32Array, noise: Float32Array, index: number): Float32Array {
    checkNoiseIndex(EulerAncestralDiscreteScheduler.className, index, this.timesteps.length);
    checkSameLength(EulerAncestralDiscreteScheduler.className, noise, original, 'noise');
    return addNoiseSigma(original, noise, this.sigmas[index]);
  }
}
