/**
 * PNDM (Liu et al. 2022) — diffusers `PNDMScheduler`, the Stable Diffusion 1.x default.
 *
 * With `skip_prk_steps: true` (every SD config) it is PLMS: N+1 model evaluations, the second timestep repeated,
 * linear multistep of order up to 4. With `skip_prk_steps: false` (the class default) the first 12 evaluations are
 * Runge–Kutta (PRK) steps on the last four timesteps, then PLMS; that mode needs at least 4 steps.
 */
import type { NoiseSource } from '../noise/types.ts';
import { EngineError } from '../errors.ts';
import { resolveSchedulerConfig, TRAIN_DEFAULTS } from './config.ts';
import { addNoiseScaled, alphaBarScales, checkNoiseIndex, checkSameLength, StepTracker } from './common.ts';
import { spacedTimesteps, trainSchedule } from './schedule.ts';
import type { PredictionType, Scheduler, SchedulerConfig, StepResult } from './types.ts';

const f32 = Math.fround;
const ONE_SIXTH = f32(1 / 6);
const ONE_THIRD = f32(1 / 3);
const ONE_24TH = f32(1 / 24);

/** `PNDMScheduler.__init__` defaults. */
export const PNDM_DEFAULTS = {
  ...TRAIN_DEFAULTS,
  skip_prk_steps: false,
  set_alpha_to_one: false,
  prediction_type: 'epsilon',
  timestep_spacing: 'leading',
  steps_offset: 0,
} as const;

export class PndmScheduler implements Scheduler {
  static readonly className = 'PNDMScheduler';
  readonly timesteps: readonly number[];
  readonly initNoiseSigma = 1;
  readonly predictionType: PredictionType;
  readonly alphasCumprod: Float32Array;
  readonly finalAlphaCumprod: number;
  /** Number of leading Runge–Kutta evaluations (0 or 12). */
  readonly prkCount: number;
  readonly #stepRatio: number;
  readonly #tracker: StepTracker;
  /** diffusers' `counter`, `ets`, `cur_sample`, `cur_model_output`. */
  #counter = 0;
  #ets: Float32Array[] = [];
  #curSample: Float32Array | undefined;
  #curModelOutput: Float32Array | undefined;
  /** Reused per step for the combined PLMS model output (read only by `#prevSample`). */
  #combined: Float32Array | undefined;

  /** @throws {EngineError} `invalid_argument` for an invalid step count or config value */
  constructor(config: SchedulerConfig, steps: number) {
    const name = PndmScheduler.className;
    const c = resolveSchedulerConfig(name, PNDM_DEFAULTS, config, steps, ['epsilon', 'v_prediction']);
    const train = trainSchedule(c);
    this.alphasCumprod = train.alphasCumprod;
    this.finalAlphaCumprod = c.set_alpha_to_one ? 1 : train.alphasCumprod[0];
    this.predictionType = c.prediction_type;
    const T = c.num_train_timesteps;
    this.#stepRatio = Math.floor(T / steps);
    // diffusers' `_timesteps`, ascending.
    const base = spacedTimesteps({
      spacing: c.timestep_spacing,
      steps,
      numTrainTimesteps: T,
      stepsOffset: c.steps_offset,
      flavour: 'ddim',
    }).reverse();
    if (c.skip_prk_steps) {
      this.prkCount = 0;
      // _timesteps[:-1] ++ _timesteps[-2:-1] ++ _timesteps[-1:], reversed: the second entry is repeated.
      const plms = [...base.slice(0, -1), ...base.slice(-2, -1), ...base.slice(-1)];
      this.timesteps = plms.reverse();
    } else {
      if (steps < 4) {
        throw new EngineError(
          'invalid_argument',
          `Cannot schedule ${name} with Runge-Kutta warm-up (skip_prk_steps false): steps must be >= 4: current value is ${steps}`,
        );
      }
      const half = Math.floor(Math.floor(T / steps) / 2);
      const [a0, a1, a2, a3] = base.slice(-4);
      const prk = [a3, a2 + half, a2 + half, a2, a2, a1 + half, a1 + half, a1, a1, a0 + half, a0 + half, a0];
      this.prkCount = prk.length;
      this.timesteps = [...prk, ...base.slice(0, -3).reverse()];
    }
    this.#tracker = new StepTracker(name, this.timesteps.length);
  }

  scaleModelInput(sample: Float32Array, index: number): Float32Array {
    this.#tracker.check(index);
    return sample;
  }

  step(modelOutput: Float32Array, index: number, sample: Float32Array, _noise: NoiseSource): StepResult {
    checkSameLength(PndmScheduler.className, modelOutput, sample);
    this.#tracker.advance(index);
    const t = this.timesteps[index];
    const prevSample = this.#counter < this.prkCount ? this.#stepPrk(modelOutput, t, sample) : this.#stepPlms(modelOutput, t, sample);
    this.#counter += 1;
    return { prevSample, denoised: this.#predictOriginal(modelOutput, t, sample) };
  }

  addNoise(original: Float32Array, noise: Float32Array, index: number): Float32Array {
    checkNoiseIndex(PndmScheduler.className, index, this.timesteps.length);
    checkSameLength(PndmScheduler.className, noise, original, 'noise');
    return addNoiseScaled(original, noise, ...alphaBarScales(this.alphasCumprod[this.timesteps[index]]));
  }

  /** x0 from this step's model output alone (PNDM itself never forms it; previews use it). */
  #predictOriginal(modelOutput: Float32Array, timestep: number, sample: Float32Array): Float32Array {
    const alphaT = this.alphasCumprod[timestep];
    const sqrtAlphaT = f32(Math.sqrt(alphaT));
    const sqrtBetaT = f32(Math.sqrt(f32(1 - alphaT)));
    const n = sample.length;
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const x = sample[i];
      const m = modelOutput[i];
      if (this.predictionType === 'epsilon') out[i] = f32(x - f32(sqrtBetaT * m)) / sqrtAlphaT;
      else if (this.predictionType === 'v_prediction') out[i] = f32(sqrtAlphaT * x) - f32(sqrtBetaT * m);
      else out[i] = m;
    }
    return out;
  }

  #stepPrk(modelOutput: Float32Array, timestep: number, sample: Float32Array): Float32Array {
    const counter = this.#counter;
    const diffToPrev = counter % 2 ? 0 : Math.floor(this.#stepRatio / 2);
    const prevTimestep = timestep - diffToPrev;
    const t = this.timesteps[Math.floor(counter / 4) * 4];
    const n = sample.length;
    let output = modelOutput;
    const phase = counter % 4;
    if (phase === 0) {
      const acc = new Float32Array(n);
      for (let i = 0; i < n; i++) acc[i] = f32(ONE_SIXTH * modelOutput[i]);
      this.#curModelOutput = acc;
      this.#ets.push(modelOutput.slice());
      this.#curSample = sample.slice();
    } else if (phase === 1 || phase === 2) {
      const acc = this.#curModelOutput as Float32Array;
      for (let i = 0; i < n; i++) acc[i] = acc[i] + f32(ONE_THIRD * modelOutput[i]);
    } else {
      const acc = this.#curModelOutput as Float32Array;
      output = new Float32Array(n);
      for (let i = 0; i < n; i++) output[i] = acc[i] + f32(ONE_SIXTH * modelOutput[i]);
      this.#curModelOutput = undefined;
    }
    return this.#prevSample(this.#curSample ?? sample, t, prevTimestep, output);
  }

  #stepPlms(modelOutput: Float32Array, timestep: number, sample: Float32Array): Float32Array {
    let t = timestep;
    let prevTimestep = t - this.#stepRatio;
    if (this.#counter !== 1) {
      // Keep the last 3 outputs plus this one; the buffer of a dropped output takes the copy.
      const dropped = this.#ets.length > 3 ? this.#ets.shift() : undefined;
      const copy = dropped?.length === modelOutput.length ? dropped : new Float32Array(modelOutput.length);
      copy.set(modelOutput);
      this.#ets.push(copy);
    } else {
      prevTimestep = t;
      t = t + this.#stepRatio;
    }
    const ets = this.#ets;
    const k = ets.length;
    const n = sample.length;
    if (this.#combined?.length !== n) this.#combined = new Float32Array(n);
    let output = this.#combined;
    let x = sample;
    if (k === 1 && this.#counter === 0) {
      output = modelOutput;
      this.#curSample = sample.slice();
    } else if (k === 1 && this.#counter === 1) {
      const e1 = ets[0];
      for (let i = 0; i < n; i++) output[i] = f32(modelOutput[i] + e1[i]) / 2;
      x = this.#curSample as Float32Array;
      this.#curSample = undefined;
    } else if (k === 2) {
      const [e2, e1] = ets;
      for (let i = 0; i < n; i++) output[i] = f32(f32(3 * e1[i]) - e2[i]) / 2;
    } else if (k === 3) {
      const [e3, e2, e1] = ets;
      for (let i = 0; i < n; i++) {
        output[i] = f32(f32(f32(23 * e1[i]) - f32(16 * e2[i])) + f32(5 * e3[i])) / 12;
      }
    } else {
      const [e4, e3, e2, e1] = ets;
      for (let i = 0; i < n; i++) {
        const s = f32(f32(f32(f32(55 * e1[i]) - f32(59 * e2[i])) + f32(37 * e3[i])) - f32(9 * e4[i]));
        output[i] = ONE_24TH * s;
      }
    }
    return this.#prevSample(x, t, prevTimestep, output);
  }

  /** diffusers `_get_prev_sample` (formula (9) of the PNDM paper), float32 op by op. */
  #prevSample(sample: Float32Array, timestep: number, prevTimestep: number, modelOutput: Float32Array): Float32Array {
    const alphaT = this.alphasCumprod[timestep];
    const alphaPrev = prevTimestep >= 0 ? this.alphasCumprod[prevTimestep] : this.finalAlphaCumprod;
    const betaT = f32(1 - alphaT);
    const betaPrev = f32(1 - alphaPrev);
    const sampleCoeff = f32(Math.sqrt(f32(alphaPrev / alphaT)));
    const denom = f32(f32(alphaT * f32(Math.sqrt(betaPrev))) + f32(Math.sqrt(f32(f32(alphaT * betaT) * alphaPrev))));
    const diff = f32(alphaPrev - alphaT);
    const v = this.predictionType === 'v_prediction';
    const sqrtAlphaT = f32(Math.sqrt(alphaT));
    const sqrtBetaT = f32(Math.sqrt(betaT));
    const n = sample.length;
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const x = sample[i];
      const m = v ? f32(f32(sqrtAlphaT * modelOutput[i]) + f32(sqrtBetaT * x)) : modelOutput[i];
      out[i] = f32(sampleCoeff * x) - f32(f32(diff * m) / denom);
    }
    return out;
  }
}
