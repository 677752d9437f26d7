/**
 * Shared schedule maths for every scheduler: training betas / ᾱ / σ tables, inference timestep spacing,
 * σ interpolation, Karras σ and σ → t conversion (docs/engine-reference.md §4.1–§4.3).
 *
 * Precision follows diffusers: tables are float32 built the way torch builds them (float32 `linspace`,
 * float64-accumulated `cumprod`), inference-time σ maths is float64 (numpy) and cast to float32 at the end.
 * Every rounding uses numpy's round-half-to-even.
 */
import { EngineError } from '../errors.ts';

const f32 = Math.fround;

/** The training-schedule part of a scheduler config, after defaults were applied. */
export interface TrainScheduleConfig {
  num_train_timesteps: number;
  beta_start: number;
  beta_end: number;
  beta_schedule: string;
  trained_betas: readonly number[] | null;
  rescale_betas_zero_snr?: boolean;
  /**
   * With `rescale_betas_zero_snr`, replace the zero terminal ᾱ with 2^-24 (Euler, Euler ancestral, DPM-Solver do;
   * DDIM and LCM keep the exact 0). Default true.
   */
  terminal_alpha_floor?: boolean;
}

/** Float32 tables indexed by training timestep t = 0..T-1. */
export interface TrainSchedule {
  readonly betas: Float32Array;
  readonly alphasCumprod: Float32Array;
  /** σ_t = sqrt((1 − ᾱ_t)/ᾱ_t), ascending in t. */
  readonly sigmas: Float32Array;
  /** float32 ln σ_t (numpy `np.log` of a float32 array). */
  readonly logSigmas: Float32Array;
}

/**
 * numpy `np.round`: round half to even.
 * @example roundHalfEven(2.5) === 2; roundHalfEven(3.5) === 4; roundHalfEven(-0.5) === -0
 */
export function roundHalfEven(x: number): number {
  const r = Math.round(x); // rounds .5 up
  if (r - x === 0.5 && r % 2 !== 0) return r - 1;
  return r;
}

/** `np.linspace(start, stop, num)` in float64 (endpoint included, last element exactly `stop`). */
export function linspace(start: number, stop: number, num: number): Float64Array {
  const out = new Float64Array(num);
  if (num === 0) return out;
  const div = num - 1;
  const step = div > 0 ? (stop - start) / div : 0;
  for (let i = 0; i < num; i++) out[i] = i * step + start;
  if (num > 1) out[num - 1] = stop;
  return out;
}

/**
 * `torch.linspace(start, end, steps, dtype=float32)` on x86 CPU: float32 step, the lower half counted up from `start`
 * and the upper half down from `end`, 8-wide blocks whose base is computed with a fused multiply-add. Bit-exactness
 * with torch is build dependent (docs/engine-reference.md §4.1); this variant reproduced the reference tables.
 */
export function torchLinspaceFloat32(start: number, end: number, steps: number): Float32Array {
  const out = new Float32Array(steps);
  if (steps === 1) {
    out[0] = start;
    return out;
  }
  const s = f32(start);
  const e = f32(end);
  const step = f32(f32(e - s) / (steps - 1));
  const halfway = Math.floor(steps / 2);
  for (let idx = 0; idx < steps; idx += 8) {
    // float32 a*b is exact in float64, so fround(a*b + c) is the fused result (up to a 2^-29-rare double rounding).
    const base = idx < halfway ? f32(step * idx + s) : f32(-step * (steps - idx - 1) + e);
    for (let k = 0; k < 8 && idx + k < steps; k++) out[idx + k] = k === 0 ? base : f32(base + f32(k * step));
  }
  return out;
}

function cosineBetas(T: number): Float32Array {
  const alphaBar = (t: number): number => Math.cos(((t + 0.008) / 1.008) * Math.PI / 2) ** 2;
  const out = new Float32Array(T);
  for (let i = 0; i < T; i++) out[i] = Math.min(1 - alphaBar((i + 1) / T) / alphaBar(i / T), 0.999);
  return out;
}

/** `torch.cumprod` on CPU: float64 accumulator, each output rounded to float32. */
export function cumprodFloat32(values: Float32Array): Float32Array {
  const out = new Float32Array(values.length);
  let acc = 1;
  for (let i = 0; i < values.length; i++) {
    acc *= values[i];
    out[i] = acc;
  }
  return out;
}

/** diffusers `rescale_zero_terminal_snr` (Lin et al. 2305.08891, Algorithm 1), float32 ops. */
function rescaleZeroTerminalSnr(betas: Float32Array): Float32Array {
  const n = betas.length;
  const alphas = new Float32Array(n);
  for (let i = 0; i < n; i++) alphas[i] = 1 - betas[i];
  const sqrtAc = cumprodFloat32(alphas).map((a) => Math.sqrt(a));
  const first = sqrtAc[0];
  const last = sqrtAc[n - 1];
  const scale = f32(first / f32(first - last));
  const alphasBar = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const v = f32(f32(sqrtAc[i] - last) * scale);
    alphasBar[i] = v * v;
  }
  const out = new Float32Array(n);
  out[0] = 1 - alphasBar[0];
  for (let i = 1; i < n; i++) out[i] = 1 - f32(alphasBar[i] / alphasBar[i - 1]);
  return out;
}

/** Built tables by config: a scheduler is created per image, the 1000-entry tables only once per config. */
const trainScheduleCache = new Map<string, TrainSchedule>();
const TRAIN_SCHEDULE_CACHE_SIZE = 32;

/**
 * Builds the float32 training tables of diffusers' schedulers (docs/engine-reference.md §4.1), cached per config. The
 * returned tables are shared between schedulers and must not be modified.
 * @throws {EngineError} `invalid_argument` for an unknown `beta_schedule` or a `trained_betas` of the wrong length.
 */
export function trainSchedule(config: TrainScheduleConfig): TrainSchedule {
  const key = JSON.stringify([
    config.num_train_timesteps,
    config.beta_start,
    config.beta_end,
    config.beta_schedule,
    config.trained_betas,
    config.rescale_betas_zero_snr === true,
    // The floor only changes anything with rescale_betas_zero_snr; otherwise every class shares one build.
    config.rescale_betas_zero_snr === true && config.terminal_alpha_floor !== false,
  ]);
  let tables = trainScheduleCache.get(key);
  if (!tables) {
    tables = buildTrainSchedule(config);
    if (trainScheduleCache.size >= TRAIN_SCHEDULE_CACHE_SIZE) {
      trainScheduleCache.delete(trainScheduleCache.keys().next().value as string);
    }
    trainScheduleCache.set(key, tables);
  }
  return tables;
}

function buildTrainSchedule(config: TrainScheduleConfig): TrainSchedule {
  const T = config.num_train_timesteps;
  let betas: Float32Array;
  if (config.trained_betas !== null) {
    if (config.trained_betas.length !== T) {
      throw new EngineError(
        'invalid_argument',
        `Cannot use trained_betas: expected ${T} values, current length is ${config.trained_betas.length}`,
      );
    }
    betas = Float32Array.from(config.trained_betas);
  } else if (config.beta_schedule === 'linear') {
    betas = torchLinspaceFloat32(config.beta_start, config.beta_end, T);
  } else if (config.beta_schedule === 'scaled_linear') {
    betas = torchLinspaceFloat32(Math.sqrt(config.beta_start), Math.sqrt(config.beta_end), T);
    for (let i = 0; i < T; i++) betas[i] = betas[i] * betas[i];
  } else if (config.beta_schedule === 'squaredcos_cap_v2') {
    betas = cosineBetas(T);
  } else {
    throw new EngineError(
      'invalid_argument',
      `Cannot build the noise schedule: beta_schedule must be linear, scaled_linear or squaredcos_cap_v2: current value is ${JSON.stringify(config.beta_schedule)}`,
    );
  }
  if (config.rescale_betas_zero_snr) betas = rescaleZeroTerminalSnr(betas);

  const alphas = new Float32Array(T);
  for (let i = 0; i < T; i++) alphas[i] = 1 - betas[i];
  const alphasCumprod = cumprodFloat32(alphas);
  // Euler, Euler ancestral and DPM-Solver replace a zero terminal ᾱ with 2^-24 so σ_max stays finite.
  if (config.rescale_betas_zero_snr && config.terminal_alpha_floor !== false) alphasCumprod[T - 1] = 2 ** -24;
  const sigmas = new Float32Array(T);
  const logSigmas = new Float32Array(T);
  for (let i = 0; i < T; i++) {
    const a = alphasCumprod[i];
    sigmas[i] = Math.sqrt(f32(f32(1 - a) / a));
    logSigmas[i] = Math.log(sigmas[i]);
  }
  return { betas, alphasCumprod, sigmas, logSigmas };
}

/**
 * `np.arange(start, 0, -step)` values for `trailing` spacing, computed as numpy fills a float range
 * (`start + i·delta` with `delta = (start − step) − start`). numpy's length, `ceil(start/step)`, is one too long for
 * some N (e.g. 61) because of float error, which makes diffusers emit a negative timestep; we keep exactly `count`.
 */
function trailingRange(start: number, step: number, count: number): Float64Array {
  const delta = start - step - start;
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = start + i * delta;
  return out;
}

/** Which diffusers `set_timesteps` variant to reproduce. */
export type SpacingFlavour =
  /** Euler / Euler ancestral / LMS: float32, `linspace` keeps fractional timesteps. */
  | 'sigma'
  /** DDIM: int64, descending. */
  | 'ddim'
  /** DPM-Solver multistep: int64, N+1 points with the last dropped (`linspace`, `leading`). */
  | 'dpm';

/**
 * Inference timesteps for `timestep_spacing` (docs/engine-reference.md §4.2), descending, as numbers
 * (float32 values for the `sigma` flavour, integers otherwise).
 * @param lastTimestep DPM-Solver's `last_timestep` (T unless `lambda_min_clipped` cuts the schedule).
 */
export function spacedTimesteps(options: {
  spacing: string;
  steps: number;
  numTrainTimesteps: number;
  stepsOffset: number;
  flavour: SpacingFlavour;
  lastTimestep?: number;
}): number[] {
  const { spacing, steps: N, numTrainTimesteps: T, stepsOffset, flavour } = options;
  const last = options.lastTimestep ?? T;
  const out: number[] = [];
  if (spacing === 'linspace') {
    if (flavour === 'sigma') {
      const v = linspace(0, T - 1, N);
      for (let i = N - 1; i >= 0; i--) out.push(f32(v[i]));
    } else if (flavour === 'ddim') {
      const v = linspace(0, T - 1, N);
      for (let i = N - 1; i >= 0; i--) out.push(roundHalfEven(v[i]));
    } else {
      const v = linspace(0, last - 1, N + 1);
      for (let i = N; i >= 1; i--) out.push(roundHalfEven(v[i]));
    }
  } else if (spacing === 'leading') {
    if (flavour === 'dpm') {
      const ratio = Math.floor(last / (N + 1));
      for (let i = N; i >= 1; i--) out.push(i * ratio + stepsOffset);
    } else {
      const ratio = Math.floor(T / N);
      for (let i = N - 1; i >= 0; i--) out.push(i * ratio + stepsOffset);
    }
  } else if (spacing === 'trailing') {
    const v = trailingRange(flavour === 'dpm' ? last : T, T / N, N);
    for (let i = 0; i < N; i++) out.push(roundHalfEven(v[i]) - 1);
  } else {
    throw new EngineError(
      'invalid_argument',
      `Cannot space timesteps: timestep_spacing must be linspace, leading or trailing: current value is ${JSON.stringify(spacing)}`,
    );
  }
  for (const t of out) {
    if (!(t >= 0 && t <= T - 1)) {
      throw new EngineError(
        'invalid_argument',
        `Cannot schedule ${N} steps with ${spacing} spacing and steps_offset ${stepsOffset}: timestep must be in [0, ${T - 1}]: current value is ${t}`,
      );
    }
  }
  return out;
}

/** `np.interp(x, arange(len(fp)), fp)` in float64, clamping outside the table. */
export function interpTrainTable(x: number, table: Float32Array): number {
  const n = table.length;
  if (!(x > 0)) return table[0];
  if (x >= n - 1) return table[n - 1];
  const j = Math.floor(x);
  const lo = table[j];
  if (x === j) return lo;
  return (table[j + 1] - lo) * (x - j) + lo;
}

/** Karras et al. (2022) σ ramp with ρ = 7, float64 (diffusers `_convert_to_karras`). */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, steps: number): Float64Array {
  const rho = 7;
  const ramp = linspace(0, 1, steps);
  const minInvRho = sigmaMin ** (1 / rho);
  const maxInvRho = sigmaMax ** (1 / rho);
  const out = new Float64Array(steps);
  for (let i = 0; i < steps; i++) out[i] = (maxInvRho + ramp[i] * (minInvRho - maxInvRho)) ** rho;
  return out;
}

/** Exponential σ ramp (diffusers `_convert_to_exponential`), float64. */
export function exponentialSigmas(sigmaMin: number, sigmaMax: number, steps: number): Float64Array {
  const ramp = linspace(Math.log(sigmaMax), Math.log(sigmaMin), steps);
  return ramp.map((v) => Math.exp(v));
}

/**
 * diffusers `_sigma_to_t`: the fractional training timestep whose log-σ interpolates to `sigma`.
 * `lo` is the last index with ln σ_train[lo] ≤ ln σ (0 if none), clipped to T−2.
 */
export function sigmaToT(sigma: number, logSigmas: Float32Array): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  const n = logSigmas.length;
  let lo = 0;
  // logSigmas ascends, so binary-search the last index with logSigmas[i] <= logSigma.
  let a = 0;
  let b = n - 1;
  if (logSigmas[0] <= logSigma) {
    while (a < b) {
      const mid = (a + b + 1) >> 1;
      if (logSigmas[mid] <= logSigma) a = mid;
      else b = mid - 1;
    }
    lo = a;
  }
  if (lo > n - 2) lo = n - 2;
  const low = logSigmas[lo];
  const high = logSigmas[lo + 1];
  let w = (low - logSigma) / (low - high);
  if (w < 0) w = 0;
  else if (w > 1) w = 1;
  return (1 - w) * lo + w * (lo + 1);
}

/** `max(σ)` for spacing linspace/trailing, else `sqrt(max(σ)² + 1)`, in float32 ops. */
function sigmaInitNoise(sigmas: Float32Array, spacing: string): number {
  let max = 0;
  for (const s of sigmas) if (s > max) max = s;
  if (spacing === 'linspace' || spacing === 'trailing') return max;
  return f32(Math.sqrt(f32(f32(max * max) + 1)));
}

/** σ ramp applied on top of the interpolated σ (Euler, LMS). */
export type SigmaRamp = 'none' | 'karras' | 'exponential';

/**
 * The σ-sampler `set_timesteps` shared by Euler / Euler ancestral / LMS: float32 timesteps spaced by
 * `timestep_spacing`, σ interpolated at them, optionally replaced with a Karras or exponential ramp (timesteps then
 * re-derived by `sigmaToT`), `finalSigma` appended, cast to float32; plus the matching `init_noise_sigma`.
 * @throws {EngineError} `invalid_argument` for an unknown spacing or a timestep outside the training range
 */
export function sigmaSamplerSchedule(
  train: TrainSchedule,
  config: { timestep_spacing: string; num_train_timesteps: number; steps_offset: number },
  steps: number,
  options: { ramp: SigmaRamp; sigmaMin?: number | null; sigmaMax?: number | null; finalSigma: number },
): { timesteps: number[]; sigmas: Float32Array; initNoiseSigma: number } {
  const { ramp } = options;
  let timesteps = spacedTimesteps({
    spacing: config.timestep_spacing,
    steps,
    numTrainTimesteps: config.num_train_timesteps,
    stepsOffset: config.steps_offset,
    flavour: 'sigma',
  });
  const n = timesteps.length;
  let sigmas: Float64Array = Float64Array.from(timesteps, (t) => interpTrainTable(t, train.sigmas));
  if (ramp !== 'none') {
    const sigmaMin = options.sigmaMin ?? sigmas[n - 1];
    const sigmaMax = options.sigmaMax ?? sigmas[0];
    sigmas = ramp === 'karras' ? karrasSigmas(sigmaMin, sigmaMax, n) : exponentialSigmas(sigmaMin, sigmaMax, n);
    timesteps = Array.from(sigmas, (s) => f32(sigmaToT(s, train.logSigmas)));
  }
  const out = new Float32Array(n + 1);
  out.set(sigmas);
  out[n] = options.finalSigma;
  return { timesteps, sigmas: out, initNoiseSigma: sigmaInitNoise(out, config.timestep_spacing) };
}
