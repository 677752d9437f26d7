/**
 * `torch.randn(n, generator=torch.Generator().manual_seed(seed))` for float32 on x86 CPUs
 * (docs/engine-reference.md §7.3): the AVX2 `normal_fill` kernel for n ≥ 16 (bit-exact with the reference build,
 * including the redraw of the last 16 values when n % 16 ≠ 0), and the float64 Box–Muller
 * `normal_distribution<double>` (with its cached second value) for n < 16. Successive calls continue the generator
 * stream, as successive torch draws do.
 */
import { Mt19937 } from './mt19937.ts';
import { log256, sincos256 } from './float32-math.ts';
import type { NoiseSource } from './types.ts';

const f32 = Math.fround;
const TWO_PI_F32 = f32(2 * Math.PI);
const TWO_POW_M24 = 2 ** -24;
const TWO_POW_M53 = 2 ** -53;

export class TorchCpuRandn implements NoiseSource {
  readonly #mt: Mt19937;
  /** torch's `next_double_normal_sample`. */
  #cachedNormal: number | undefined;
  readonly #sincos = new Float64Array(2);

  /** @param seed uint32, as `Generator.manual_seed(seed)` */
  constructor(seed: number) {
    this.#mt = new Mt19937(seed);
  }

  randn(count: number): Float32Array {
    const out = new Float32Array(count);
    if (count >= 16) this.#normalFill(out);
    else for (let i = 0; i < count; i++) out[i] = this.#normalDouble();
    return out;
  }

  /** `uniform_real_distribution<float>(0, 1)`: 24 random bits. */
  #uniformFloat(): number {
    return (this.#mt.nextUint32() & 0xffffff) * TWO_POW_M24;
  }

  #normalFill(data: Float32Array): void {
    const size = data.length;
    for (let i = 0; i < size; i++) data[i] = this.#uniformFloat();
    for (let i = 0; i + 16 <= size; i += 16) this.#fill16(data, i);
    if (size % 16 !== 0) {
      const start = size - 16;
      for (let i = 0; i < 16; i++) data[start + i] = this.#uniformFloat();
      this.#fill16(data, start);
    }
  }

  /** `normal_fill_16_AVX2` with mean 0, std 1. */
  #fill16(data: Float32Array, offset: number): void {
    const sc = this.#sincos;
    for (let j = 0; j < 8; j++) {
      const u1 = f32(1 - data[offset + j]);
      const u2 = data[offset + j + 8];
      const radius = f32(Math.sqrt(f32(-2 * log256(u1))));
      const theta = f32(TWO_PI_F32 * u2);
      sincos256(theta, sc);
      data[offset + j] = radius * sc[1];
      data[offset + j + 8] = radius * sc[0];
    }
  }

  /** `normal_distribution<double>` (two 53-bit uniforms, cached sine branch), cast to float by the caller. */
  #normalDouble(): number {
    if (this.#cachedNormal !== undefined) {
      const cached = this.#cachedNormal;
      this.#cachedNormal = undefined;
      return cached;
    }
    const u1 = this.#uniformDouble();
    const u2 = this.#uniformDouble();
    const r = Math.sqrt(-2 * Math.log1p(-u2));
    const theta = 2 * Math.PI * u1;
    this.#cachedNormal = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /** `uniform_real_distribution<double>`: the low 53 bits of (first << 32 | second). */
  #uniformDouble(): number {
    const hi = this.#mt.nextUint32() & 0x1fffff;
    const lo = this.#mt.nextUint32();
    return (hi * 4294967296 + lo) * TWO_POW_M53;
  }
}
