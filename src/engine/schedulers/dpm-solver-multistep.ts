/**
 * DPM-Solver++ multistep (Lu et al. 2022) — diffusers `DPMSolverMultistepScheduler`. With the defaults this is
 * "DPM++ 2M"; `use_karras_sigmas` gives "DPM++ 2M Karras", `algorithm_type: sde-dpmsolver++` "DPM++ 2M SDE".
 *
 * Supported: algorithm_type dpmsolver++ / sde-dpmsolver++ (deis → dpmsolver++ as in diffusers), solver_order 1–3,
 * solver_type midpoint / heun (logrho, bh1, bh2 → midpoint as in diffusers), lower_order_final, euler_at_final,
 * final_sigmas_type, lambda_min_clipped, Karras / exponential σ, rescale_betas_zero_snr. Not supported (rejected):
 * the deprecated non-++ algorithms, thresholding, learned variance, lu-lambda / beta / flow σ, dynamic shifting.
 * Scalar coefficients and element-wise ops are float32 op by op, as torch computes them.
 */
import type { NoiseSource } from '../noise/types.ts';
import { EngineError } from '../errors.ts';
import { checkOneOf, resolveSchedulerConfig, TRAIN_DEFAULTS } from './config.ts';
import { addNoiseScaled, checkNoiseIndex, checkSameLength, drawNoise, StepTracker } from './common.ts';
import { sigmaRampFromConfig } from './euler.ts';
import {
  exponentialSigmas,
  interpTrainTable,
  karrasSigmas,
  roundHalfEven,
  sigmaToT,
  spacedTimesteps,
  trainSchedule,
} from './schedule.ts';
import type { PredictionType, Scheduler, SchedulerConfig, StepResult } from './types.ts';

const f32 = Math.fround;

/** `DPMSolverMultistepScheduler.__init__` defaults. */
export const DPM_SOLVER_MULTISTEP_DEFAULTS = {
  ...TRAIN_DEFAULTS,
  solver_order: 2,
  prediction_type: 'epsilon',
  thresholding: false,
  dynamic_thresholding_ratio: 0.995,
  sample_max_value: 1.0,
  algorithm_type: 'dpmsolver++',
  solver_type: 'midpoint',
  lower_order_final: true,
  euler_at_final: false,
  use_karras_sigmas: false,
  use_exponential_sigmas: false,
  use_beta_sigmas: false,
  use_lu_lambdas: false,
  use_flow_sigmas: false,
  flow_shift: 1.0,
  final_sigmas_type: 'zero',
  lambda_min_clipped: null,
  variance_type: null,
  timestep_spacing: 'linspace',
  steps_offset: 0,
  rescale_betas_zero_snr: false,
  use_dynamic_shifting: false,
  time_shift_type: 'exponential',
} as const;

/** α_t, σ_t and λ_t of a VP-space σ, float32 (diffusers `_sigma_to_alpha_sigma_t`). */
function alphaSigmaLambda(sigma: number): { alpha: number; sigma: number; lambda: number } {
  const alpha = f32(1 / f32(Math.sqrt(f32(f32(sigma * sigma) + 1))));
  const sigmaT = f32(sigma * alpha);
  return { alpha, sigma: sigmaT, lambda: f32(f32(Math.log(alpha)) - f32(Math.log(sigmaT))) };
}

export class DpmSolverMultistepScheduler implements Scheduler {
  static readonly className = 'DPMSolverMultistepScheduler';
  readonly timesteps: readonly number[];
  readonly sigmas: Float32Array;
  readonly initNoiseSigma = 1;
  readonly predictionType: PredictionType;
  readonly solverOrder: number;
  readonly sde: boolean;
  readonly heun: boolean;
  readonly #lowerOrderFinal: boolean;
  readonly #eulerAtFinal: boolean;
  readonly #finalSigmaZero: boolean;
  readonly #tracker: StepTracker;
  /** x0 predictions of the last `solverOrder` steps, oldest first. */
  #history: Float32Array[] = [];
  #lowerOrderNums = 0;

  /** @throws {EngineError} `invalid_argument` for an invalid step count or an unsupported config value */
  constructor(config: SchedulerConfig, steps: number) {
    const name = DpmSolverMultistepScheduler.className;
    const c = resolveSchedulerConfig(name, DPM_SOLVER_MULTISTEP_DEFAULTS, config, steps);
    const T = c.num_train_timesteps;
    const algorithm = c.algorithm_type === 'deis' ? 'dpmsolver++' : c.algorithm_type;
    checkOneOf(name, 'algorithm_type', algorithm, ['dpmsolver++', 'sde-dpmsolver++']);
    const solverType = ['logrho', 'bh1', 'bh2'].includes(c.solver_type) ? 'midpoint' : c.solver_type;
    checkOneOf(name, 'solver_type', solverType, ['midpoint', 'heun']);
    checkOneOf(name, 'final_sigmas_type', c.final_sigmas_type, ['zero', 'sigma_min']);
    if (![1, 2, 3].includes(c.solver_order)) {
      throw new EngineError('invalid_argument', `Cannot build ${name}: solver_order must be 1, 2 or 3: current value is ${c.solver_order}`);
    }
    const unsupported: string[] = (['thresholding', 'use_lu_lambdas', 'use_flow_sigmas', 'use_dynamic_shifting'] as const).filter(
      (k) => c[k],
    );
    if (c.variance_type !== null) unsupported.push('variance_type');
    if (unsupported.length > 0) {
      throw new EngineError('invalid_argument', `Cannot build ${name}: ${unsupported.join(', ')} is not supported`);
    }
    const ramp = sigmaRampFromConfig(name, c);
    const lambdaMinClipped = c.lambda_min_clipped === null ? -Infinity : c.lambda_min_clipped;
    if (typeof lambdaMinClipped !== 'number' || Number.isNaN(lambdaMinClipped)) {
      throw new EngineError('invalid_argument', `Cannot build ${name}: 'lambda_min_clipped' must be a number: current value is ${JSON.stringify(lambdaMinClipped)}`);
    }
    const train = trainSchedule(c);

    // last_timestep = T − searchsorted(flip(λ_t), lambda_min_clipped): λ_t falls with t, so count λ_t < the clip.
    let clippedIdx = 0;
    for (let t = 0; t < T; t++) {
      const a = train.alphasCumprod[t];
      const lambda = f32(f32(Math.log(f32(Math.sqrt(a)))) - f32(Math.log(f32(Math.sqrt(f32(1 - a))))));
      if (lambda < lambdaMinClipped) clippedIdx++;
    }
    const lastTimestep = T - clippedIdx;

    let timesteps: number[];
    let sigmas: Float64Array;
    if (ramp === 'none') {
      timesteps = spacedTimesteps({
        spacing: c.timestep_spacing,
        steps,
        numTrainTimesteps: T,
        stepsOffset: c.steps_offset,
        flavour: 'dpm',
        lastTimestep,
      });
      sigmas = Float64Array.from(timesteps, (t) => interpTrainTable(t, train.sigmas));
    } else {
      // The ramp spans the whole training range (σ_train[0] … σ_train[T−1]), unlike Euler's.
      const sigmaMin = train.sigmas[0];
      const sigmaMax = train.sigmas[T - 1];
      sigmas = ramp === 'karras' ? karrasSigmas(sigmaMin, sigmaMax, steps) : exponentialSigmas(sigmaMin, sigmaMax, steps);
      const roundT = ramp === 'karras' && c.beta_schedule !== 'squaredcos_cap_v2' ? roundHalfEven : Math.trunc;
      timesteps = Array.from(sigmas, (s) => roundT(sigmaToT(s, train.logSigmas)));
    }
    const n = timesteps.length;
    this.sigmas = new Float32Array(n + 1);
    this.sigmas.set(sigmas);
    this.sigmas[n] = c.final_sigmas_type === 'zero' ? 0 : train.sigmas[0];
    this.timesteps = timesteps;
    this.predictionType = c.prediction_type;
    this.solverOrder = c.solver_order;
    this.sde = algorithm === 'sde-dpmsolver++';
    this.heun = solverType === 'heun';
    this.#lowerOrderFinal = c.lower_order_final;
    this.#eulerAtFinal = c.euler_at_final;
    this.#finalSigmaZero = c.final_sigmas_type === 'zero';
    this.#tracker = new StepTracker(name, n);
  }

  scaleModelInput(sample: Float32Array, index: number): Float32Array {
    this.#tracker.check(index);
    return sample;
  }

  step(modelOutput: Float32Array, index: number, sample: Float32Array, noise: NoiseSource): StepResult {
    const name = DpmSolverMultistepScheduler.className;
    checkSameLength(name, modelOutput, sample);
    this.#tracker.advance(index);
    const count = this.timesteps.length;
    const lowerOrderFinal =
      index === count - 1 && (this.#eulerAtFinal || (this.#lowerOrderFinal && count < 15) || this.#finalSigmaZero);
    const lowerOrderSecond = index === count - 2 && this.#lowerOrderFinal && count < 15;

    // The oldest x0 leaves the history now; its buffer takes the new one (never returned to the caller).
    const spare = this.#history.length === this.solverOrder ? this.#history.shift() : undefined;
    const x0 = this.#convertModelOutput(modelOutput, index, sample, spare);
    this.#history.push(x0);
    const eps = this.sde ? drawNoise(name, noise, sample.length) : undefined;

    let prevSample: Float32Array;
    if (this.solverOrder === 1 || this.#lowerOrderNums < 1 || lowerOrderFinal) {
      prevSample = this.#firstOrder(x0, index, sample, eps);
    } else if (this.solverOrder === 2 || this.#lowerOrderNums < 2 || lowerOrderSecond) {
      prevSample = this.#secondOrder(index, sample, eps);
    } else {
      prevSample = this.#thirdOrder(index, sample, eps);
    }
    if (this.#lowerOrderNums < this.solverOrder) this.#lowerOrderNums++;
    // x0 stays in the history (its buffer is reused later), so the caller gets a copy.
    return { prevSample, denoised: x0.slice() };
  }

  addNoise(original: Float32Array, noise: Float32Array, index: number): Float32Array {
    checkNoiseIndex(DpmSolverMultistepScheduler.className, index, this.timesteps.length);
    checkSameLength(DpmSolverMultistepScheduler.className, noise, original, 'noise');
    const { alpha, sigma } = alphaSigmaLambda(this.sigmas[index]);
    return addNoiseScaled(original, noise, alpha, sigma);
  }

  /** The data prediction x0 (dpmsolver++ works in x0 space), written into `spare` when it fits. */
  #convertModelOutput(modelOutput: Float32Array, index: number, sample: Float32Array, spare?: Float32Array): Float32Array {
    const n = sample.length;
    const out = spare?.length === n ? spare : new Float32Array(n);
    if (this.predictionType === 'sample') {
      out.set(modelOutput);
      return out;
    }
    const { alpha, sigma } = alphaSigmaLambda(this.sigmas[index]);
    if (this.predictionType === 'epsilon') {
      for (let i = 0; i < n; i++) out[i] = f32(sample[i] - f32(sigma * modelOutput[i])) / alpha;
    } else {
      for (let i = 0; i < n; i++) out[i] = f32(alpha * sample[i]) - f32(sigma * modelOutput[i]);
    }
    return out;
  }

  #firstOrder(x0: Float32Array, index: number, sample: Float32Array, eps: Float32Array | undefined): Float32Array {
    const n = sample.length;
    const out = new Float32Array(n);
    const sigmaNext = this.sigmas[index + 1];
    if (sigmaNext === 0) {
      // σ_{t} = 0 ⇒ α_t = 1, λ_t = +∞, e^{−h} = 0: every variant returns the data prediction.
      out.set(x0);
      return out;
    }
    const t = alphaSigmaLambda(sigmaNext);
    const s = alphaSigmaLambda(this.sigmas[index]);
    const h = f32(t.lambda - s.lambda);
    const expMinusH = f32(Math.exp(-h));
    if (!this.sde) {
      const a = f32(t.sigma / s.sigma);
      const b = f32(t.alpha * f32(expMinusH - 1));
      for (let i = 0; i < n; i++) out[i] = f32(a * sample[i]) - f32(b * x0[i]);
    } else {
      const exp2 = f32(Math.exp(f32(-2 * h)));
      const a = f32(f32(t.sigma / s.sigma) * expMinusH);
      const b = f32(t.alpha * f32(1 - exp2));
      const c = f32(t.sigma * f32(Math.sqrt(f32(1 - exp2))));
      const e = eps as Float32Array;
      for (let i = 0; i < n; i++) out[i] = f32(f32(a * sample[i]) + f32(b * x0[i])) + f32(c * e[i]);
    }
    return out;
  }

  #secondOrder(index: number, sample: Float32Array, eps: Float32Array | undefined): Float32Array {
    const n = sample.length;
    const hist = this.#history;
    const m0 = hist[hist.length - 1];
    const m1 = hist[hist.length - 2];
    const t = alphaSigmaLambda(this.sigmas[index + 1]);
    const s0 = alphaSigmaLambda(this.sigmas[index]);
    const s1 = alphaSigmaLambda(this.sigmas[index - 1]);
    const h = f32(t.lambda - s0.lambda);
    const h0 = f32(s0.lambda - s1.lambda);
    const r0 = f32(h0 / h);
    const invR0 = f32(1 / r0);
    const expMinusH = f32(Math.exp(-h));
    const out = new Float32Array(n);
    if (!this.sde) {
      const a = f32(t.sigma / s0.sigma);
      const b = f32(t.alpha * f32(expMinusH - 1));
      if (!this.heun) {
        const c = f32(0.5 * b);
        for (let i = 0; i < n; i++) {
          const d1 = f32(invR0 * f32(m0[i] - m1[i]));
          out[i] = f32(f32(a * sample[i]) - f32(b * m0[i])) - f32(c * d1);
        }
      } else {
        const c = f32(t.alpha * f32(f32(f32(expMinusH - 1) / h) + 1));
        for (let i = 0; i < n; i++) {
          const d1 = f32(invR0 * f32(m0[i] - m1[i]));
          out[i] = f32(f32(a * sample[i]) - f32(b * m0[i])) + f32(c * d1);
        }
      }
    } else {
      const exp2 = f32(Math.exp(f32(-2 * h)));
      const a = f32(f32(t.sigma / s0.sigma) * expMinusH);
      const b = f32(t.alpha * f32(1 - exp2));
      const c = this.heun ? f32(t.alpha * f32(f32(f32(1 - exp2) / f32(-2 * h)) + 1)) : f32(0.5 * b);
      const d = f32(t.sigma * f32(Math.sqrt(f32(1 - exp2))));
      const e = eps as Float32Array;
      for (let i = 0; i < n; i++) {
        const d1 = f32(invR0 * f32(m0[i] - m1[i]));
        out[i] = f32(f32(f32(a * sample[i]) + f32(b * m0[i])) + f32(c * d1)) + f32(d * e[i]);
      }
    }
    return out;
  }

  #thirdOrder(index: number, sample: Float32Array, eps: Float32Array | undefined): Float32Array {
    const n = sample.length;
    const hist = this.#history;
    const m0 = hist[hist.length - 1];
    const m1 = hist[hist.length - 2];
    const m2 = hist[hist.length - 3];
    const t = alphaSigmaLambda(this.sigmas[index + 1]);
    const s0 = alphaSigmaLambda(this.sigmas[index]);
    const s1 = alphaSigmaLambda(this.sigmas[index - 1]);
    const s2 = alphaSigmaLambda(this.sigmas[index - 2]);
    const h = f32(t.lambda - s0.lambda);
    const r0 = f32(f32(s0.lambda - s1.lambda) / h);
    const r1 = f32(f32(s1.lambda - s2.lambda) / h);
    const invR0 = f32(1 / r0);
    const invR1 = f32(1 / r1);
    const w = f32(r0 / f32(r0 + r1));
    const invSum = f32(1 / f32(r0 + r1));
    const expMinusH = f32(Math.exp(-h));
    let a: number;
    let b: number;
    let c1: number;
    let c2: number;
    let d = 0;
    if (!this.sde) {
      a = f32(t.sigma / s0.sigma);
      b = f32(-f32(t.alpha * f32(expMinusH - 1)));
      c1 = f32(t.alpha * f32(f32(f32(expMinusH - 1) / h) + 1));
      c2 = f32(-f32(t.alpha * f32(f32(f32(f32(expMinusH - 1) + h) / f32(h * h)) - 0.5)));
    } else {
      const exp2 = f32(Math.exp(f32(-2 * h)));
      a = f32(f32(t.sigma / s0.sigma) * expMinusH);
      b = f32(t.alpha * f32(1 - exp2));
      c1 = f32(t.alpha * f32(f32(f32(1 - exp2) / f32(-2 * h)) + 1));
      const twoH = f32(2 * h);
      c2 = f32(t.alpha * f32(f32(f32(f32(1 - exp2) - twoH) / f32(twoH * twoH)) - 0.5));
      d = f32(t.sigma * f32(Math.sqrt(f32(1 - exp2))));
    }
    const e = eps;
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const d10 = f32(invR0 * f32(m0[i] - m1[i]));
      const d11 = f32(invR1 * f32(m1[i] - m2[i]));
      const diff = f32(d10 - d11);
      const D1 = f32(d10 + f32(w * diff));
      const D2 = f32(invSum * diff);
      let v = f32(f32(f32(a * sample[i]) + f32(b * m0[i])) + f32(c1 * D1)) + f32(c2 * D2);
      if (e !== undefined) v = f32(v + f32(d * e[i]));
      out[i] = v;
    }
    return out;
  }
}
