import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EngineError } from '../../src/engine/errors.ts';
import { createNoise, Mt19937, NOISE_KINDS } from '../../src/engine/noise/index.ts';
import { fma32, log256, sincos256 } from '../../src/engine/noise/float32-math.ts';
import { mulHi32 } from '../../src/engine/noise/philox.ts';

const f32 = Math.fround;
const LATENT_64 = 4 * 64 * 64;

function sum(values: Float32Array): number {
  let s = 0;
  for (const v of values) s += v;
  return s;
}

/**
 * Exact equality at the reference's printed precision: each actual value, printed with as many significant digits
 * as the reference string has, must read back as the reference number (the reference prints 8 digits, which does
 * not always pin down a float32).
 */
function assertPrinted(actual: ArrayLike<number>, expected: readonly string[], offset = 0): void {
  for (let i = 0; i < expected.length; i++) {
    const digits = expected[i].replace(/^-?0*\.?0*/, '').replace('.', '').length;
    const value = actual[offset + i];
    assert.equal(Number(value.toPrecision(digits)), Number(expected[i]), `element ${offset + i}: ${value} does not print as ${expected[i]}`);
  }
}

/** Exact float32 equality with a reference printed with enough digits (≥ 9) to pin down the float32. */
function assertFloat32(actual: ArrayLike<number>, expected: readonly number[]): void {
  for (let i = 0; i < expected.length; i++) assert.equal(actual[i], f32(expected[i]), `element ${i}: ${actual[i]} != ${expected[i]}`);
}

/** Within `ulps` float32 units in the last place. */
function assertUlps(actual: ArrayLike<number>, expected: readonly number[], ulps: number): void {
  for (let i = 0; i < expected.length; i++) {
    const e = f32(expected[i]);
    const ulp = 2 ** (Math.floor(Math.log2(Math.abs(e))) - 23);
    assert.ok(Math.abs(actual[i] - e) <= ulps * ulp, `element ${i}: ${actual[i]} vs ${expected[i]}`);
  }
}

describe('Mt19937', () => {
  it('matches std::mt19937 with the default seed 5489', () => {
    const mt = new Mt19937(5489);
    assert.equal(mt.nextUint32(), 3499211612);
    assert.equal(mt.nextUint32(), 581869302);
    for (let i = 3; i < 10000; i++) mt.nextUint32();
    // The C++ standard requires the 10000th output of a default-constructed mt19937 to be 4123659995.
    assert.equal(mt.nextUint32(), 4123659995);
  });
});

describe('float32 kernel maths', () => {
  it('fma32 rounds once, even when the float64 sum lands on a float32 tie', () => {
    // a·b = 2^-24 + 2^-60 exactly; a·b + 1 rounds in float64 to the float32 midpoint 1 + 2^-24, which a second
    // rounding would send to 1 (ties to even). The fused result is 1 + 2^-23.
    const a = 2 ** -24 * (1 + 2 ** -12);
    const b = 1 - 2 ** -12 + 2 ** -24;
    assert.equal(f32(a), a);
    assert.equal(f32(b), b);
    assert.equal(f32(a * b + 1), 1);
    assert.equal(fma32(a, b, 1), 1 + 2 ** -23);
    assert.equal(fma32(-a, b, -1), -(1 + 2 ** -23));
    assert.equal(fma32(2, 3, 1), 7);
  });

  it('log256 and sincos256 stay within a few float32 ulps of the true functions', () => {
    const sc = new Float64Array(2);
    for (let k = 1; k <= 1000; k++) {
      const u = f32(k / 1000);
      assert.ok(Math.abs(log256(u) - Math.log(u)) <= 4e-7 * Math.max(1, Math.abs(Math.log(u))), `log(${u})`);
      const theta = f32((2 * Math.PI * k) / 1000);
      sincos256(theta, sc);
      assert.ok(Math.abs(sc[0] - Math.sin(theta)) < 4e-7, `sin(${theta})`);
      assert.ok(Math.abs(sc[1] - Math.cos(theta)) < 4e-7, `cos(${theta})`);
    }
  });
});

describe("createNoise('torch', seed)", () => {
  it('reproduces torch.randn((1,4,64,64)) for seed 0 exactly', () => {
    const v = createNoise('torch', 0).randn(LATENT_64);
    assertPrinted(v, ['-1.1258398', '-1.1523602', '-0.25057858', '-0.43387881', '0.84871036', '0.69200915']);
    assertPrinted([v[LATENT_64 - 1]], ['-1.078208']);
    assert.ok(Math.abs(sum(v) - -124.1126999) < 1e-4);
  });

  it('reproduces torch.randn((1,4,64,64)) for seed 42 exactly', () => {
    const v = createNoise('torch', 42).randn(LATENT_64);
    assertPrinted(v, ['1.9269153', '1.4872841', '0.9007172', '-2.105521', '0.67841846', '-1.2345449']);
    assertPrinted([v[LATENT_64 - 1]], ['-0.2934061']);
    assert.ok(Math.abs(sum(v) - 149.7648004) < 1e-4);
  });

  it('reproduces torch.randn((1,4,64,64)) for seed 1234 exactly', () => {
    const v = createNoise('torch', 1234).randn(LATENT_64);
    assertPrinted(v, ['-0.11171857', '-0.49659011', '0.1630737', '-0.88168776', '0.053900193', '0.6683737']);
    assertPrinted([v[LATENT_64 - 1]], ['1.5798631']);
  });

  it('has the prefix property: (1,4,128,128) starts like (1,4,64,64)', () => {
    const v = createNoise('torch', 0).randn(4 * 128 * 128);
    assertPrinted(v, ['-1.1258398', '-1.1523602', '-0.25057858', '-0.43387881']);
  });

  it('uses the float64 path below 16 elements, caching the second Box-Muller value', () => {
    assertPrinted(createNoise('torch', 42).randn(4), ['0.33669037', '0.12880941', '0.23446237', '0.23033303']);
    // The cache lives in the generator: 3 + 1 draws equal one draw of 4.
    const g = createNoise('torch', 42);
    const parts = [...g.randn(3), ...g.randn(1)];
    assertPrinted(parts, ['0.33669037', '0.12880941', '0.23446237', '0.23033303']);
  });

  it('redraws the last 16 values when numel % 16 != 0', () => {
    const n = 37;
    const v = createNoise('torch', 7).randn(n);
    const aligned = createNoise('torch', 7).randn(32);
    // The first 16 come from the first block of the same uniforms; the tail block is new uniforms.
    assert.deepEqual(Array.from(v.subarray(0, 16)), Array.from(aligned.subarray(0, 16)));
    assert.notDeepEqual(Array.from(v.subarray(21, 37)), Array.from(aligned.subarray(16, 32)));
    assert.ok(v.every(Number.isFinite));
  });

  it('continues one stream across calls', () => {
    const one = createNoise('torch', 3);
    const a = one.randn(32);
    const b = one.randn(32);
    const fresh = createNoise('torch', 3).randn(32);
    assert.deepEqual(Array.from(a), Array.from(fresh));
    assert.notDeepEqual(Array.from(a), Array.from(b));
  });

  it('accepts the largest uint32 seed', () => {
    const v = createNoise('torch', 2 ** 32 - 1).randn(16);
    assert.equal(v.length, 16);
    assert.ok(v.every(Number.isFinite));
  });
});

describe("createNoise('numpy', seed)", () => {
  it('reproduces RandomState(seed).randn cast to float32', () => {
    assertFloat32(createNoise('numpy', 0).randn(6), [1.764052346, 0.4001572084, 0.9787379841, 2.240893199, 1.86755799, -0.9772778799]);
    assertFloat32(createNoise('numpy', 42).randn(4), [0.496714153, -0.1382643012, 0.6476885381, 1.523029856]);
  });

  it('keeps the cached polar value across calls', () => {
    const g = createNoise('numpy', 0);
    const parts = [...g.randn(3), ...g.randn(3)];
    assertFloat32(parts, [1.764052346, 0.4001572084, 0.9787379841, 2.240893199, 1.86755799, -0.9772778799]);
  });
});

describe("createNoise('philox', seed)", () => {
  it('reproduces the A1111 NV generator for seed 0, shape (3,4)', () => {
    assertUlps(createNoise('philox', 0).randn(12), [-0.9246624, -0.42534396, -2.6438458, 0.14518388, -0.12086651, -0.5797257], 1);
  });

  it('reproduces seed 42, shape (1,4,64,64)', () => {
    assertUlps(createNoise('philox', 42).randn(LATENT_64), [0.19401887, 2.1613739, -0.17205095, 0.84906, -1.9243993, 0.65298527], 1);
  });

  it('advances the counter offset per call', () => {
    const g = createNoise('philox', 0);
    g.randn(12);
    assertUlps(g.randn(4), [0.18082589, -0.55226272, 0.9238134, -0.73497033], 1);
  });

  it('computes 32x32 high words exactly', () => {
    assert.equal(mulHi32(0xffffffff, 0xffffffff), 0xfffffffe);
    assert.equal(mulHi32(0xd2511f53, 0x12345678), Number((0xd2511f53n * 0x12345678n) >> 32n));
  });
});

describe('createNoise validation', () => {
  it('lists the three kinds', () => {
    assert.deepEqual([...NOISE_KINDS], ['torch', 'numpy', 'philox']);
  });

  for (const seed of [-1, 2 ** 32, 1.5, Number.NaN]) {
    it(`rejects seed ${seed} with invalid_argument`, () => {
      assert.throws(() => createNoise('torch', seed), (err: unknown) => err instanceof EngineError && err.code === 'invalid_argument');
    });
  }

  it('rejects an unknown kind with invalid_argument', () => {
    assert.throws(
      () => createNoise('cuda' as never, 1),
      (err: unknown) => err instanceof EngineError && err.code === 'invalid_argument' && /torch, numpy, philox/.test(err.message),
    );
  });
});
