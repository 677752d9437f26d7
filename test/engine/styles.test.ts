import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EngineError } from '../../src/engine/errors.ts';
import { applyStyle, STYLE_PRESETS } from '../../src/engine/pipeline/styles.ts';

const STABILITY_PRESETS = [
  '3d-model', 'analog-film', 'anime', 'cinematic', 'comic-book', 'digital-art', 'enhance', 'fantasy-art', 'isometric',
  'line-art', 'low-poly', 'modeling-compound', 'neon-punk', 'origami', 'photographic', 'pixel-art', 'tile-texture',
];

describe('STYLE_PRESETS', () => {
  it('lists exactly the 17 Stability style presets', () => {
    assert.deepEqual([...STYLE_PRESETS], STABILITY_PRESETS);
  });

  it('is frozen', () => {
    assert.ok(Object.isFrozen(STYLE_PRESETS));
  });
});

describe('applyStyle()', () => {
  it('returns the texts unchanged without a style', () => {
    assert.deepEqual(applyStyle(undefined, 'a cat', 'blurry'), { positive: 'a cat', negative: 'blurry' });
  });

  for (const style of STABILITY_PRESETS) {
    it(`embeds the prompt and adds a negative for ${style}`, () => {
      const { positive, negative } = applyStyle(style, 'a red fox', '');
      assert.ok(positive.includes('a red fox'), positive);
      assert.ok(!positive.includes('{prompt}'), positive);
      assert.ok(positive.length > 'a red fox'.length);
      assert.ok(negative.length > 0);
      assert.ok(!negative.includes('{prompt}'));
    });
  }

  it('appends the preset negative to the user negative', () => {
    const styleOnly = applyStyle('anime', 'a cat', '').negative;
    assert.equal(applyStyle('anime', 'a cat', '  ugly hands ').negative, `ugly hands, ${styleOnly}`);
  });

  it('keeps special characters of the prompt literally', () => {
    assert.ok(applyStyle('cinematic', "cost $& $1 (red:1.2)", '').positive.includes("cost $& $1 (red:1.2)"));
  });

  it('handles an empty prompt without a dangling placeholder or leading comma', () => {
    const { positive } = applyStyle('enhance', '', '');
    assert.ok(!positive.startsWith(','));
    assert.ok(!positive.includes('{prompt}'));
  });

  for (const style of ['Anime', 'watercolor', '', 'toString', '__proto__']) {
    it(`rejects the unknown style ${JSON.stringify(style)} with invalid_argument`, () => {
      assert.throws(
        () => applyStyle(style, 'a cat', ''),
        (err: unknown) => err instanceof EngineError && err.code === 'invalid_argument' && err.message.includes('3d-model'),
      );
    });
  }
});
