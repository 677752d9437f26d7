/** The demo model's geometric classifier, on hand-drawn images and on the training renderer's ground truth. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { classify, judge, shapeOf, type Palette } from './classifier.ts';
import { groundTruthAgreement } from './ground-truth.ts';

const palette: Palette = {
  red: [220, 30, 30],
  blue: [30, 70, 225],
  white: [245, 245, 245],
  yellow: [250, 225, 20],
};

function draw(bg: string, shapes: [string, (x: number, y: number) => boolean][]): Uint8Array {
  const rgb = new Uint8Array(64 * 64 * 3);
  for (let y = 0; y < 64; y++) {
    for (let x = 0; x < 64; x++) {
      const hit = shapes.find(([, inside]) => inside(x + 0.5, y + 0.5));
      rgb.set(palette[hit ? hit[0] : bg], 3 * (64 * y + x));
    }
  }
  return rgb;
}

test('classifier: colours, background, shapes and positions of hand-drawn scenes', () => {
  const circle = classify(draw('blue', [['red', (x, y) => (x - 30) ** 2 + (y - 34) ** 2 <= 12 ** 2]]), 64, 64, palette);
  assert.equal(circle.background, 'blue');
  assert.deepEqual(circle.objects.map((o) => [o.colour, o.shape, o.position]), [['red', 'circle', 'in the center']]);
  assert.ok(Math.abs(circle.shares.red - (Math.PI * 144) / 4096) < 0.02);

  const two = classify(draw('white', [
    ['yellow', (x, y) => Math.abs(x - 17) <= 9 && Math.abs(y - 17) <= 9],
    // Upward triangle: apex (47,36), base y = 58, half width 11.
    ['red', (x, y) => y >= 36 && y <= 58 && Math.abs(x - 47) <= ((y - 36) / 22) * 11],
  ]), 64, 64, palette);
  assert.equal(two.background, 'white');
  assert.deepEqual(two.objects.map((o) => [o.colour, o.shape, o.position]).sort(), [
    ['red', 'triangle', 'in the bottom right corner'],
    ['yellow', 'square', 'in the top left corner'],
  ]);
  assert.deepEqual(judge(two, [{ colour: 'yellow', shape: 'square', position: 'in the top left corner' }, { colour: 'red', shape: 'circle' }]), [
    { colour: true, shape: true, position: true },
    { colour: true, shape: false, position: null },
  ]);

  const diamond = classify(draw('yellow', [['blue', (x, y) => Math.abs(x - 47) + Math.abs(y - 30) <= 13]]), 64, 64, palette);
  assert.deepEqual(diamond.objects.map((o) => [o.colour, o.shape, o.position]), [['blue', 'diamond', 'on the right']]);

  const empty = classify(draw('blue', []), 64, 64, palette);
  assert.equal(empty.background, 'blue');
  assert.deepEqual(empty.objects, []);
  assert.deepEqual(judge(empty, [{ colour: 'red', shape: 'circle' }]), [{ colour: false, shape: false, position: null }]);
});

test('classifier: the rules on symmetry and convexity', () => {
  const sym = (harmonics: [number, number, number], axisCorners = true) => {
    const strength = Math.max(...harmonics);
    return { order: harmonics.indexOf(strength) + 3, strength, harmonics, axisCorners };
  };
  assert.equal(shapeOf({ solidity: 0.95, symmetry: sym([0.01, 0.02, 0.01]) }), 'circle');
  assert.equal(shapeOf({ solidity: 0.9, symmetry: sym([0.3, 0.02, 0.02]) }), 'triangle');
  assert.equal(shapeOf({ solidity: 1, symmetry: sym([0.01, 0.14, 0.01], false) }), 'square');
  assert.equal(shapeOf({ solidity: 0.93, symmetry: sym([0.01, 0.14, 0.01]) }), 'diamond');
  assert.equal(shapeOf({ solidity: 0.74, symmetry: sym([0.05, 0.3, 0.02]) }), 'cross');
  assert.equal(shapeOf({ solidity: 0.6, symmetry: sym([0.04, 0.03, 0.35]) }), 'star');
  // A convex five-lobed outline is no star; two nearly equal harmonics are no clear shape.
  assert.equal(shapeOf({ solidity: 0.96, symmetry: sym([0.02, 0.02, 0.2]) }), 'unclear');
  assert.equal(shapeOf({ solidity: 0.8, symmetry: sym([0.12, 0.15, 0.02]) }), 'unclear');
});

test('classifier: a symmetry measure counts the points of a drawn star and a cross', () => {
  const star = (x: number, y: number) => {
    const a = Math.atan2(y - 32, x - 32);
    const r = Math.hypot(x - 32, y - 32);
    // Radius oscillating between 5 and 14 px five times around.
    return r <= 9.5 + 4.5 * Math.cos(5 * (a + Math.PI / 2));
  };
  const reading = classify(draw('blue', [['yellow', star], ['red', (x, y) => (Math.abs(x - 12) <= 7 && Math.abs(y - 12) <= 2.5) || (Math.abs(x - 12) <= 2.5 && Math.abs(y - 12) <= 7)]]), 64, 64, palette);
  const shapes = Object.fromEntries(reading.objects.map((o) => [o.colour, [o.shape, o.symmetry.order]]));
  assert.deepEqual(shapes, { yellow: ['star', 5], red: ['cross', 4] });
});

test('classifier: agrees with the training renderer\'s ground truth on at least 98 % of objects', async () => {
  const held = JSON.parse(readFileSync(new URL('../../models/demo/heldout.json', import.meta.url), 'utf8')) as { palette: Palette };
  const a = await groundTruthAgreement(held.palette);
  const pct = (k: number) => `${((100 * k) / a.objects).toFixed(1)} %`;
  console.log(`classifier on ${a.scenes} rendered scenes (${a.objects} objects): all right ${pct(a.all)}, shape ${pct(a.shape)}, ` +
    `colour ${pct(a.colour)}, position ${pct(a.position)}, background ${((100 * a.background) / a.scenes).toFixed(1)} %`);
  assert.ok(a.objects >= 500);
  assert.ok(a.all / a.objects >= 0.98, `agreement ${pct(a.all)} < 98 %:\n${a.misses.join('\n')}`);
});

test('classifier: still agrees with the ground truth when the scenes are blurred (σ 0.9 and 1.2 px, soft edges as a generator draws them)', async () => {
  const held = JSON.parse(readFileSync(new URL('../../models/demo/heldout.json', import.meta.url), 'utf8')) as { palette: Palette };
  for (const sigma of [0.9, 1.2]) {
    const a = await groundTruthAgreement(held.palette, sigma);
    console.log(`classifier on the rendered scenes blurred with σ ${sigma} px: shape ${((100 * a.shape) / a.objects).toFixed(1)} %, all right ${((100 * a.all) / a.objects).toFixed(1)} %`);
    assert.ok(a.all / a.objects >= 0.98, `agreement at σ ${sigma}: ${a.all}/${a.objects}:\n${a.misses.slice(0, 20).join('\n')}`);
  }
});
