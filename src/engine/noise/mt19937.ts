/**
 * MT19937 (Matsumoto & Nishimura 1998), seeded with `init_genrand(seed)` — the generator behind torch's CPU
 * `Generator.manual_seed(seed)` (low 32 bits) and numpy's `RandomState(seed)` (docs/engine-reference.md §7.2).
 */
const N = 624;
const M = 397;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;
const MATRIX_A = 0x9908b0df;

export class Mt19937 {
  readonly #state = new Uint32Array(N);
  #index = N;

  /** @param seed uint32 (only the low 32 bits are used, as torch does) */
  constructor(seed: number) {
    const s = this.#state;
    s[0] = seed >>> 0;
    for (let j = 1; j < N; j++) {
      const prev = s[j - 1] ^ (s[j - 1] >>> 30);
      // 1812433253 * prev + j in uint32, split to stay exact in float64.
      s[j] = (Math.imul(1812433253, prev) + j) >>> 0;
    }
  }

  /** The next uint32 output. */
  nextUint32(): number {
    if (this.#index >= N) this.#twist();
    let y = this.#state[this.#index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  #twist(): void {
    const s = this.#state;
    for (let k = 0; k < N; k++) {
      const y = (s[k] & UPPER_MASK) | (s[(k + 1) % N] & LOWER_MASK);
      s[k] = s[(k + M) % N] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    this.#index = 0;
  }
}
