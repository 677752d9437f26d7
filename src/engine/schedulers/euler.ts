/**
 * Euler (Karras et al. 2022, Algorithm 2 without churn) — diffusers `EulerDiscreteScheduler`.
 *
 * Element-wise maths mirrors torch's float32 kernels op by op (one rounding per tensor op), so results match
 * diffusers to the last bit or two. `s_churn` (a `step()` argument in diffusers, 0 in every pipeline) is not offered.
 */
import type { NoiseSource } from '../noise/types.ts';
import { EngineError } from '../errors.ts';
import { checkOneOf, resolveSchedulerConfig, TRAIN_DEFAULTS } from './config.ts';
import { addNoiseSigma, checkNoiseIndex, checkSameLength, scaleBySigma, StepTracker } from './common.ts';
import { sigmaSamplerSchedule, trainSchedule, type SigmaRamp } from './schedule.ts';
import type { PredictionType, Scheduler, SchedulerConfig, StepResult } from './types.ts';

const f32 = Math.fround;

/** `EulerDiscreteScheduler.__init__` defaults. */
export const EULER_DEFAULTS = {
  ...TRAIN_DEFAULTS,
  prediction_type: 'epsilon',
  interpolation_type: 'linear',
  use_karras_sigmas: false,
  use_exponential_sigmas: false,
  use_beta_sigmas: false,
  sigma_min: null,
  sigma_max: null,
  timestep_spacing: 'linspace',
  timestep_type: 'discrete',
  steps_offset: 0,
  rescale_betas_zero_snr: false,
  final_sigmas_type: 'zero',
} as const;

/** Picks the σ ramp from the three mutually exclusive `use_*_sigmas` flags. */
export function sigmaRampFromConfig(
  className: string,
  config: { use_karras_sigmas: boolean; use_exponential_sigmas: boolean; use_beta_sigmas: boolean },
): SigmaRamp {
  const flags = [config.use_karras_sigmas, config.use_exponential_sigmas, config.use_beta_sigmas].filter(Boolean);
  if (flags.length > 1) {
    throw new EngineError(
      'invalid_argument',
      `Cannot build ${className}: only one of use_karras_sigmas, use_exponential_sigmas, use_beta_sigmas may be true`,
    );
  }
  if (config.use_beta_sigmas) {
    throw new EngineError('invalid_argument', `Cannot build ${className}: use_beta_sigmas is not supported`);
  }
  return config.use_karras_sigmas ? 'karras' : config.use_exponential_sigmas ? 'exponential' : 'none';
}

/** A `number | null` config value (e.g. `sigma_min`). */
export function optionalNumber(className: string, key: string, value: unknown): number | null {
  if (value === null) return null;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new EngineError('invalid_argument', `Cannot build ${className}: '${key}' must be a positive number or null: current value is ${JSON.stringify(value)}`);
  }
  return value;
}

/** x0 from a σ-parameterised model output, float32 op by op (diffusers Euler/LMS `pred_original_sample`). */
export function sigmaToX0(prediction: PredictionType, m: number, x: number, sigma: number, vOut: number, vIn: number): number {
  if (prediction === 'epsilon') return f32(x - f32(sigma * m));
  if (prediction === 'v_prediction') return f32(f32(m * vOut) + f32(x / vIn));
  return m;
}

/** The two float32 coefficients of the v-prediction conversion at σ: `−σ/√(σ²+1)` and `σ²+1`. */
export function vCoefficients(sigma: number): [number, number] {
  const s2p1 = f32(f32(sigma * sigma) + 1);
  return [f32(-sigma / f32(Math.sqrt(s2p1))), s2p1];
}

export class EulerDiscreteScheduler implements Scheduler {
  static readonly className = 'EulerDiscreteScheduler';
  readonly timesteps: readonly number[];
  readonly sigmas: Float32Array;
  readonly initNoiseSigma: number;
  readonly predictionType: PredictionType;
  readonly #tracker: StepTracker;

  /**
   * @param config the model's scheduler_config.json (foreign keys are ignored, missing keys take Euler's defaults)
   * @throws {EngineError} `invalid_argument` for an invalid step count or config value
   */
  constructor(config: SchedulerConfig, steps: number) {
    const name = EulerDiscreteScheduler.className;
    const c = resolveSchedulerConfig(name, EULER_DEFAULTS, config, steps);
    checkOneOf(name, 'interpolation_type', c.interpolation_type, ['linear']);
    checkOneOf(name, 'timestep_type', c.timestep_type, ['discrete', 'continuous']);
    checkOneOf(name, 'final_sigmas_type', c.final_sigmas_type, ['zero', 'sigma_min']);
    const ramp = sigmaRampFromConfig(name, c);
    const train = trainSchedule(c);
    const { timesteps, sigmas, initNoiseSigma } = sigmaSamplerSchedule(train, c, steps, {
      ramp,
      sigmaMin: optionalNumber(name, 'sigma_min', c.sigma_min),
      sigmaMax: optionalNumber(name, 'sigma_max', c.sigma_max),
      finalSigma: c.final_sigmas_type === 'zero' ? 0 : train.sigmas[0],
    });
    this.predictionType = c.prediction_type;
    this.sigmas = sigmas;
    this.timesteps =
      c.timestep_type === 'continuous' && this.predictionType === 'v_prediction'
        ? Array.from(sigmas.subarray(0, steps), (s) => f32(0.25 * f32(Math.log(s))))
        : timesteps;
    this.initNoiseSigma = initNoiseSigma;
    this.#tracker = new StepTracker(name, this.timesteps.length);
  }

  scaleModelInput(sample: Float32Array, index: number): Float32Array {
    this.#tracker.check(index);
    return scaleBySigma(sample, this.sigmas[index]);
  }

  step(modelOutput: Float32Array, index: number, sample: Float32Array, _noise: NoiseSource): StepResult {
    checkSameLength(EulerDiscreteScheduler.className, modelOutput, sample);
    this.#tracker.advance(index);
    const sigma = this.sigmas[index];
    const dt = f32(this.sigmas[index + 1] - sigma);
    const [vOut, vIn] = vCoefficients(sigma);
    const prediction = this.predictionType;
    const n = sample.length;
    const prevSample = new Float32Array(n);
    const denoised = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const x = sample[i];
      const x0 = sigmaToX0(prediction, modelOutput[i], x, sigma, vOut, vIn);
      denoised[i] = x0;
      const derivative = f32(f32(x - x0) / sigma);
      prevSample[i] = x + f32(derivative * dt);
    }
    return { prevSample, denoised };
  }

  addNoise(original: Float32Array, noise: Float32Array, index: number): Float32Array {
    checkNoiseIndex(EulerDiscreteScheduler.className, index, this.timesteps.length);
    checkSameLength(EulerDiscreteScheduler.className, noise, original, 'noise');
    return addNoiseSigma(original, noise, this.sigmas[index]);
  }
}
