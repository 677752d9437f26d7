/** Small helpers every scheduler uses: call-order checks and input validation. */
import { EngineError } from '../errors.ts';

/**
 * Enforces the scheduler call order: `step(index)` with 0 <= index < count, consecutive after the first call.
 * The first call may start at any index (img2img starts mid-schedule, like diffusers' `set_begin_index`).
 */
export class StepTracker {
  #next = -1;

  constructor(
    private readonly className: string,
    private readonly count: number,
  ) {}

  /** Validates `index` for a `step` call and advances. Returns true on the first call. */
  advance(index: number): boolean {
    this.check(index);
    const first = this.#next < 0;
    if (!first && index !== this.#next) {
      throw new EngineError(
        'invalid_argument',
        `Cannot step ${this.className} out of order: expected index ${this.#next}: current value is ${index}`,
      );
    }
    this.#next = index + 1;
    return first;
  }

  /** Validates an index without advancing (for `scaleModelInput`). */
  check(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.count) {
      throw new EngineError(
        'invalid_argument',
        `Cannot use ${this.className} step index: must be an integer in [0, ${this.count - 1}]: current value is ${index}`,
      );
    }
  }
}

/** Throws unless the model output (or the noise, for `addNoise`) and the sample have the same length. */
export function checkSameLength(className: string, modelOutput: Float32Array, sample: Float32Array, what = 'model output'): void {
  if (modelOutput.length !== sample.length) {
    throw new EngineError(
      'invalid_argument',
      `Cannot ${what === 'model output' ? 'step' : 'add noise with'} ${className}: ${what} length must equal the sample length (${sample.length}): current value is ${modelOutput.length}`,
    );
  }
}

/** Draws `count` values from the noise source and checks the count it returned. */
export function drawNoise(
  className: string,
  noise: { randn(count: number): Float32Array },
  count: number,
): Float32Array {
  const out = noise.randn(count);
  if (out.length !== count) {
    throw new EngineError(
      'runtime_error',
      `Cannot step ${className}: the noise source returned ${out.length} values for a request of ${count}`,
    );
  }
  return out;
}

/** `x / sqrt(σ² + 1)` (Euler, Euler ancestral, LMS input scaling) into a new array. */
export function scaleBySigma(sample: Float32Array, sigma: number): Float32Array {
  const f32 = Math.fround;
  const divisor = f32(Math.sqrt(f32(f32(sigma * sigma) + 1)));
  const out = new Float32Array(sample.length);
  for (let i = 0; i < sample.length; i++) out[i] = sample[i] / divisor;
  return out;
}

/** Throws unless `index` is a valid position in a timestep list of `count` entries (for `addNoise`). */
export function checkNoiseIndex(className: string, index: number, count: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= count) {
    throw new EngineError(
      'invalid_argument',
      `Cannot add noise with ${className}: the timestep index must be an integer in [0, ${count - 1}]: current value is ${index}`,
    );
  }
}

/** σ-parameterised `add_noise` (Euler, Euler ancestral, LMS): x + n·σ, float32 op by op (docs/engine-reference.md §4.9). */
export function addNoiseSigma(original: Float32Array, noise: Float32Array, sigma: number): Float32Array {
  const f32 = Math.fround;
  const s = f32(sigma);
  const out = new Float32Array(original.length);
  for (let i = 0; i < out.length; i++) out[i] = original[i] + f32(noise[i] * s);
  return out;
}

/**
 * Variance-preserving `add_noise` (DDIM, PNDM, LCM with a = √ᾱ_t, s = √(1 − ᾱ_t); DPM-Solver with α_t, σ_t of its σ):
 * a·x + s·n, float32 op by op (docs/engine-reference.md §4.9).
 */
export function addNoiseScaled(original: Float32Array, noise: Float32Array, a: number, s: number): Float32Array {
  const f32 = Math.fround;
  const out = new Float32Array(original.length);
  for (let i = 0; i < out.length; i++) out[i] = f32(a * original[i]) + f32(s * noise[i]);
  return out;
}

/** The √ᾱ_t and √(1 − ᾱ_t) of a float32 ᾱ_t, as torch computes `ᾱ ** 0.5` and `(1 − ᾱ) ** 0.5`. */
export function alphaBarScales(alphaBar: number): [number, number] {
  const f32 = Math.fround;
  return [f32(Math.sqrt(alphaBar)), f32(Math.sqrt(f32(1 - alphaBar)))];
}
