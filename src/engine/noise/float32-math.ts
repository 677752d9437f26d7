/**
 * float32 helpers for bit-exact emulation of vectorised C++ kernels: a correctly rounded float32 fused multiply-add
 * and the Cephes-derived `log256_ps` / `sincos256_ps` of `avx_mathfun.h` as GCC compiles them for torch's AVX2
 * kernel (every Horner step and the documented tails contracted into FMAs; docs/engine-reference.md §7.3).
 */
const f32 = Math.fround;

/**
 * float32 `fma(a, b, c)`: a·b + c rounded once. For float32 inputs a·b is exact in float64; the float64 sum can
 * round, so its error (TwoSum) decides the one case where rounding twice differs: a sum that lands exactly halfway
 * between two float32 values.
 */
export function fma32(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const r = f32(s);
  if (r === s) return r;
  const bv = s - p;
  const err = p - (s - bv) + (c - bv);
  if (err === 0) return r;
  const q = s + (s - r);
  if (f32(q) !== q || q === r) return r;
  // s is exactly the midpoint of r and q: the exact value lies on the side of `err`.
  return err > 0 === q > r ? q : r;
}

const buffer = new ArrayBuffer(4);
const asFloat = new Float32Array(buffer);
const asUint = new Uint32Array(buffer);

// avx_mathfun.h constants (float32).
const MIN_NORM_POS = 1.17549435e-38;
const SQRTHF = f32(0.707106781186547524);
const LOG_P = [
  7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1,
  2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
].map(f32);
const LOG_Q1 = f32(-2.12194440e-4);
const LOG_Q2 = f32(0.693359375);
const FOPI = f32(1.27323954473516);
const MINUS_DP1 = f32(-0.78515625);
const MINUS_DP2 = f32(-2.4187564849853515625e-4);
const MINUS_DP3 = f32(-3.77489497744594108e-8);
const SINCOF = [-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1].map(f32);
const COSCOF = [2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2].map(f32);

/** `log256_ps` for one lane (x > 0, float32). */
export function log256(xIn: number): number {
  asFloat[0] = Math.max(xIn, MIN_NORM_POS);
  const bits = asUint[0];
  const exponent = (bits >>> 23) - 0x7f;
  asUint[0] = (bits & ~0x7f800000) | 0x3f000000;
  const mantissa = asFloat[0]; // in [0.5, 1)
  let e = exponent + 1;
  const below = mantissa < SQRTHF;
  let x = f32(mantissa - 1);
  if (below) {
    e -= 1;
    x = f32(x + mantissa);
  }
  const z = f32(x * x);
  let y = LOG_P[0];
  for (let k = 1; k < 9; k++) y = fma32(y, x, LOG_P[k]);
  y = f32(y * x);
  y = fma32(y, z, f32(e * LOG_Q1));
  y = fma32(-z, 0.5, y);
  x = f32(x + y);
  return fma32(e, LOG_Q2, x);
}

/** `sincos256_ps` for one lane (x ≥ 0, float32); writes [sin, cos] into `out`. */
export function sincos256(x: number, out: Float64Array | number[]): void {
  let j = Math.trunc(f32(x * FOPI));
  j = (j + 1) & ~1;
  const y = j;
  const swapSinSign = (j & 4) !== 0;
  const polyMask = (j & 2) === 0;
  let r = fma32(y, MINUS_DP1, x);
  r = fma32(y, MINUS_DP2, r);
  r = fma32(y, MINUS_DP3, r);
  const cosSign = (~(j - 2) & 4) !== 0;
  const z = f32(r * r);
  let yc = fma32(COSCOF[0], z, COSCOF[1]);
  yc = fma32(yc, z, COSCOF[2]);
  yc = f32(yc * z);
  yc = fma32(yc, z, -f32(z * 0.5));
  yc = f32(yc + 1);
  let ys = fma32(SINCOF[0], z, SINCOF[1]);
  ys = fma32(ys, z, SINCOF[2]);
  ys = f32(ys * z);
  ys = fma32(ys, r, r);
  const sin = polyMask ? ys : yc;
  const cos = polyMask ? yc : ys;
  out[0] = swapSinSign ? -sin : sin;
  out[1] = cosSign ? -cos : cos;
}
