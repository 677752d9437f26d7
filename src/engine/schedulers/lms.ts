/**
 * Linear multistep (order 4) on σ — diffusers `LMSDiscreteScheduler`.
 *
 * diffusers integrates the Lagrange basis polynomials with `scipy.integrate.quad`; they have degree ≤ 3, so the
 * 3-point Gauss–Legendre rule used here is exact.
 */
import type { NoiseSource } from '../noise/types.ts';
import { resolveSchedulerConfig, TRAIN_DEFAULTS } from './config.ts';
import { addNoiseSigma, checkNoiseIndex, checkSameLength, scaleBySigma, StepTracker } from './common.ts';
import { sigmaRampFromConfig, sigmaToX0, vCoefficients } from './euler.ts';
import { sigmaSamplerSchedule, trainSchedule } from './schedule.ts';
import type { PredictionType, Scheduler, SchedulerConfig, StepResult } from './types.ts';

const f32 = Math.fround;
const ORDER = 4;
const GAUSS_NODES = [-Math.sqrt(3 / 5), 0, Math.sqrt(3 / 5)];
const GAUSS_WEIGHTS = [5 / 9, 8 / 9, 5 / 9];

/** `LMSDiscreteScheduler.__init__` defaults. */
export const LMS_DEFAULTS = {
  ...TRAIN_DEFAULTS,
  use_karras_sigmas: false,
  use_exponential_sigmas: false,
  use_beta_sigmas: false,
  prediction_type: 'epsilon',
  timestep_spacing: 'linspace',
  steps_offset: 0,
} as const;

export class LmsDiscreteScheduler implements Scheduler {
  static readonly className = 'LMSDiscreteScheduler';
  readonly timesteps: readonly number[];
  readonly sigmas: Float32Array;
  readonly initNoiseSigma: number;
  readonly predictionType: PredictionType;
  readonly #tracker: StepTracker;
  /** Last ≤ 4 derivatives, oldest first. */
  #derivatives: Float32Array[] = [];

  /** @throws {EngineError} `invalid_argument` for an invalid step count or config value */
  constructor(config: SchedulerConfig, steps: number) {
    const name = LmsDiscreteScheduler.className;
    const c = resolveSchedulerConfig(name, LMS_DEFAULTS, config, steps);
    const ramp = sigmaRampFromConfig(name, c);
    const schedule = sigmaSamplerSchedule(trainSchedule(c), c, steps, { ramp, finalSigma: 0 });
    this.timesteps = schedule.timesteps;
    this.sigmas = schedule.sigmas;
    this.predictionType = c.prediction_type;
    this.initNoiseSigma = schedule.initNoiseSigma;
    this.#tracker = new StepTracker(name, schedule.timesteps.length);
  }

  scaleModelInput(sample: Float32Array, index: number): Float32Array {
    this.#tracker.check(index);
    return scaleBySigma(sample, this.sigmas[index]);
  }

  /** ∫_{σ_t}^{σ_{t+1}} Π_{k≠j, k<order} (τ − σ_{t−k}) / (σ_{t−j} − σ_{t−k}) dτ (diffusers `get_lms_coefficient`). */
  lmsCoefficient(order: number, t: number, j: number): number {
    const s = this.sigmas;
    const a = s[t];
    const b = s[t + 1];
    const half = (b - a) / 2;
    const mid = (a + b) / 2;
    let sum = 0;
    for (let q = 0; q < GAUSS_NODES.length; q++) {
      const tau = mid + half * GAUSS_NODES[q];
      let prod = 1;
      for (let k = 0; k < order; k++) {
        if (k === j) continue;
        prod *= (tau - s[t - k]) / (s[t - j] - s[t - k]);
      }
      sum += GAUSS_WEIGHTS[q] * prod;
    }
    return sum * half;
  }

  step(modelOutput: Float32Array, index: number, sample: Float32Array, _noise: NoiseSource): StepResult {
    checkSameLength(LmsDiscreteScheduler.className, modelOutput, sample);
    this.#tracker.advance(index);
    const sigma = this.sigmas[index];
    const [vOut, vIn] = vCoefficients(sigma);
    const prediction = this.predictionType;
    const n = sample.length;
    const derivative = new Float32Array(n);
    const denoised = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const x = sample[i];
      const x0 = sigmaToX0(prediction, modelOutput[i], x, sigma, vOut, vIn);
      denoised[i] = x0;
      derivative[i] = f32(x - x0) / sigma;
    }
    this.#derivatives.push(derivative);
    if (this.#derivatives.length > ORDER) this.#derivatives.shift();
    const order = Math.min(index + 1, ORDER);
    // Pair coefficient j with the j-th newest derivative (zip stops at the shorter list, as in diffusers).
    const pairs = Math.min(order, this.#derivatives.length);
    const coeffs: number[] = [];
    const derivs: Float32Array[] = [];
    for (let j = 0; j < pairs; j++) {
      coeffs.push(f32(this.lmsCoefficient(order, index, j)));
      derivs.push(this.#derivatives[this.#derivatives.length - 1 - j]);
    }
    const prevSample = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      let acc = 0;
      for (let j = 0; j < pairs; j++) acc = f32(acc + f32(coeffs[j] * derivs[j][i]));
      prevSample[i] = sample[i] + acc;
    }
    return { prevSample, denoised };
  }

  addNoise(original: Float32Array, noise: Float32Array, index: number): Float32Array {
    checkNoiseIndex(LmsDiscreteScheduler.className, index, this.timesteps.length);
    checkSameLength(LmsDiscreteScheduler.className, noise, original, 'noise');
    return addNoiseSigma(original, noise, this.sigmas[index]);
  }
}
