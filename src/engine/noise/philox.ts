/**
 * CUDA-compatible Philox-4×32-10 + Box–Muller noise as reproduced by AUTOMATIC1111's "NV" source and
 * stable-diffusion.cpp's `cuda` rng (docs/engine-reference.md §7.5). Each `randn` call is one torch-like draw: counter
 * word 0 is the call number (offset), word 2 the element index, key = seed; the normal value is sqrt(−2 ln u)·sin v.
 */
import type { NoiseSource } from './types.ts';

const PHILOX_M0 = 0xd2511f53;
const PHILOX_M1 = 0xcd9e8d57;
const PHILOX_W0 = 0x9e3779b9;
const PHILOX_W1 = 0xbb67ae85;
const ROUNDS = 10;
const TWO_POW32_INV = Math.fround(2.3283064e-10);
const TWO_POW32_INV_2PI = Math.fround(2.3283064e-10 * 6.2831855);

/** High 32 bits of the 64-bit product of two uint32 values. */
export function mulHi32(a: number, b: number): number {
  const al = a & 0xffff;
  const ah = a >>> 16;
  const bl = b & 0xffff;
  const bh = b >>> 16;
  const lh = al * bh;
  const hl = ah * bl;
  const mid = ((al * bl) >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (ah * bh + (lh >>> 16) + (hl >>> 16) + Math.floor(mid / 65536)) >>> 0;
}

/** Philox-4×32 with 10 rounds; writes the 4 output words into `out`. */
export function philox4x32(counter: readonly number[], key0: number, key1: number, out: Uint32Array): void {
  let c0 = counter[0] >>> 0;
  let c1 = counter[1] >>> 0;
  let c2 = counter[2] >>> 0;
  let c3 = counter[3] >>> 0;
  let k0 = key0 >>> 0;
  let k1 = key1 >>> 0;
  for (let round = 0; round < ROUNDS; round++) {
    const hi0 = mulHi32(c0, PHILOX_M0);
    const lo0 = Math.imul(c0, PHILOX_M0) >>> 0;
    const hi1 = mulHi32(c2, PHILOX_M1);
    const lo1 = Math.imul(c2, PHILOX_M1) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
    if (round < ROUNDS - 1) {
      k0 = (k0 + PHILOX_W0) >>> 0;
      k1 = (k1 + PHILOX_W1) >>> 0;
    }
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

export class PhiloxRandn implements NoiseSource {
  readonly #seed: number;
  #offset = 0;
  readonly #words = new Uint32Array(4);

  /** @param seed uint32 (the key's high word is 0) */
  constructor(seed: number) {
    this.#seed = seed >>> 0;
  }

  randn(count: number): Float32Array {
    const out = new Float32Array(count);
    const counter = [this.#offset, 0, 0, 0];
    this.#offset += 1;
    const words = this.#words;
    for (let i = 0; i < count; i++) {
      counter[2] = i;
      philox4x32(counter, this.#seed, 0, words);
      // float64 maths on float32 constants, as A1111's numpy code; cast to float32 at the end.
      const u = words[0] * TWO_POW32_INV + TWO_POW32_INV / 2;
      const v = words[1] * TWO_POW32_INV_2PI + TWO_POW32_INV_2PI / 2;
      out[i] = Math.sqrt(-2 * Math.log(u)) * Math.sin(v);
    }
    return out;
  }
}
