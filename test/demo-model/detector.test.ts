/** Unit test of the demo-model content detector on hand-drawn images (no model needed). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detect, type Palette } from './detector.ts';

const palette: Palette = {
  red: [220, 30, 30],
  blue: [30, 70, 225],
  white: [245, 245, 245],
  yellow: [250, 225, 20],
};

function draw(bg: string, fg: string, inside: (x: number, y: number) => boolean): Uint8Array {
  const rgb = new Uint8Array(64 * 64 * 3);
  for (let y = 0; y < 64; y++) {
    for (let x = 0; x < 64; x++) {
      const c = palette[inside(x + 0.5, y + 0.5) ? fg : bg];
      rgb.set(c, 3 * (64 * y + x));
    }
  }
  return rgb;
}

test('detector: colours, background and simple shapes', () => {
  const circle = detect(draw('blue', 'red', (x, y) => (x - 30) ** 2 + (y - 34) ** 2 <= 12 ** 2), 64, 64, palette);
  assert.deepEqual([circle.colour, circle.background, circle.shape], ['red', 'blue', 'circle']);
  const square = detect(draw('white', 'yellow', (x, y) => Math.abs(x - 20) <= 9 && Math.abs(y - 20) <= 9), 64, 64, palette);
  assert.deepEqual([square.colour, square.background, square.shape], ['yellow', 'white', 'square']);
  // Upward triangle: apex (32,18), base y = 44, half width 14.
  const tri = detect(draw('red', 'white', (x, y) => y >= 18 && y <= 44 && Math.abs(x - 32) <= ((y - 18) / 26) * 14), 64, 64, palette);
  assert.deepEqual([tri.colour, tri.background, tri.shape], ['white', 'red', 'triangle']);
  const diamond = detect(draw('yellow', 'blue', (x, y) => Math.abs(x - 40) + Math.abs(y - 30) <= 13), 64, 64, palette);
  assert.deepEqual([diamond.colour, diamond.background, diamond.shape], ['blue', 'yellow', 'diamond']);
  const empty = detect(draw('blue', 'blue', () => false), 64, 64, palette);
  assert.equal(empty.background, 'blue');
  assert.equal(empty.colour, null);
  assert.ok(Math.abs(circle.shares.red - (Math.PI * 144) / 4096) < 0.02);
});
