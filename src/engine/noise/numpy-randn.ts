/**
 * `numpy.random.RandomState(seed).randn(n)` cast to float32 — the noise of diffusers' `OnnxStableDiffusionPipeline`
 * (docs/engine-reference.md §7.4): MT19937, 53-bit doubles, Marsaglia's polar method with the second value cached
 * across calls.
 */
import { Mt19937 } from './mt19937.ts';
import type { NoiseSource } from './types.ts';

export class NumpyRandn implements NoiseSource {
  readonly #mt: Mt19937;
  #cachedGauss: number | undefined;

  /** @param seed uint32, as `RandomState(seed)` */
  constructor(seed: number) {
    this.#mt = new Mt19937(seed);
  }

  randn(count: number): Float32Array {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = this.#gauss();
    return out;
  }

  /** numpy `legacy_double`: (a·2^26 + b) / 2^53 with a = 27 bits, b = 26 bits. */
  #double(): number {
    const a = this.#mt.nextUint32() >>> 5;
    const b = this.#mt.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** numpy `legacy_gauss`. */
  #gauss(): number {
    if (this.#cachedGauss !== undefined) {
      const cached = this.#cachedGauss;
      this.#cachedGauss = undefined;
      return cached;
    }
    let x1: number;
    let x2: number;
    let r2: number;
    do {
      x1 = 2 * this.#double() - 1;
      x2 = 2 * this.#double() - 1;
      r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1 || r2 === 0);
    const f = Math.sqrt((-2 * Math.log(r2)) / r2);
    this.#cachedGauss = f * x1;
    return f * x2;
  }
}
