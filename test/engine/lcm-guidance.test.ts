import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EngineError } from '../../src/engine/errors.ts';
import { lcmGuidanceEmbedding } from '../../src/engine/pipeline/lcm-guidance.ts';

function assertClose(actual: number, expected: number, label: string): void {
  assert.ok(Math.abs(actual - expected) <= 1e-6 * Math.abs(expected), `${label}: ${actual} vs ${expected}`);
}

/** rtol 1e-6, or agreement to every printed digit when the reference prints fewer than 7 (e.g. 0.0118763). */
function assertReference(actual: number, printed: string, label: string): void {
  const digits = printed.replace(/^-?0*\.?0*/, '').replace('.', '').length;
  const expected = Number(printed);
  const ok = Math.abs(actual - expected) <= 1e-6 * Math.abs(expected) || Number(actual.toPrecision(digits)) === expected;
  assert.ok(ok, `${label}: ${actual} vs ${printed}`);
}

describe('lcmGuidanceEmbedding()', () => {
  it('matches the reference embedding for guidance 8.5, dim 256 (docs/engine-reference.md §5.2)', () => {
    const emb = lcmGuidanceEmbedding(8.5, 256);
    assert.equal(emb.length, 256);
    const expected: [number, string][] = [
      [0, '-0.8512359'], [1, '0.8421312'], [2, '0.0118763'],
      [126, '0.7218089'], [127, '0.6816387'], [128, '-0.5247833'], [129, '0.5392727'],
      [254, '0.6920924'], [255, '0.7316889'],
    ];
    for (const [i, value] of expected) assertReference(emb[i], value, `emb[${i}]`);
  });

  it('pairs sin and cos of the same angle', () => {
    const emb = lcmGuidanceEmbedding(4, 64);
    for (let k = 0; k < 32; k++) assert.ok(Math.abs(emb[k] ** 2 + emb[32 + k] ** 2 - 1) < 1e-6);
  });

  it('zero-pads an odd dimension', () => {
    const emb = lcmGuidanceEmbedding(8.5, 257);
    assert.equal(emb.length, 257);
    assert.equal(emb[256], 0);
    assertClose(emb[0], -0.8512359, 'emb[0]');
  });

  it('gives sin 0 / cos 1 for guidance 1 (w = 0)', () => {
    const emb = lcmGuidanceEmbedding(1, 8);
    assert.deepEqual(Array.from(emb), [0, 0, 0, 0, 1, 1, 1, 1]);
  });

  it('rejects invalid input with invalid_argument', () => {
    const invalid = (err: unknown): boolean => err instanceof EngineError && err.code === 'invalid_argument';
    assert.throws(() => lcmGuidanceEmbedding(Number.NaN, 256), invalid);
    assert.throws(() => lcmGuidanceEmbedding(8.5, 2), invalid);
    assert.throws(() => lcmGuidanceEmbedding(8.5, 12.5), invalid);
  });
});
