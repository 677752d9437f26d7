/**
 * The sample grid (docs/demo-grid.png) through the engine, so it shows exactly what the server makes: held-out
 * captions of heldout.json (one-object, then two-object) and a few training-style captions, 64×64, 20 steps, cfg 7,
 * seeds 0.., each image scaled 2× (nearest) above its caption.
 *
 *   node --import tsx scripts/demo-model/grid.ts [model dir = models/demo] [out = docs/demo-grid.png]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp, { type OverlayOptions } from 'sharp';
import { loadModel } from '../../src/engine/index.ts';

const dir = process.argv[2] ?? 'models/demo';
const out = process.argv[3] ?? 'docs/demo-grid.png';
const held = JSON.parse(readFileSync(join(dir, 'heldout.json'), 'utf8')) as { captions: { caption: string; objects: unknown[] }[] };
const one = held.captions.filter((c) => c.objects.length === 1).map((c) => c.caption);
const two = held.captions.filter((c) => c.objects.length === 2).map((c) => c.caption);
const captions = [
  ...[0, 10, 20, 30, 40, 50].map((i) => one[i]),
  ...[0, 8, 16, 24].map((i) => two[i]),
  'a small yellow square in the top left corner on a blue background',
  'a large red circle on a white background',
  'a green star at the bottom on a black background',
  'a pink triangle on the right on a gray background',
  'a purple cross in the center on a white background',
  'a large black diamond on an orange background',
  'a red triangle on the left and a white star on the right on a blue background',
  'a green cross at the top and a yellow diamond at the bottom on a purple background',
  'a blue circle and an orange square on a white background',
  'a small white circle in the bottom right corner on a red background',
];

const CELL = 128;
const W = 184;
const H = 172;
const COLS = 5;
const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const word of text.split(' ')) {
    if (cur && cur.length + word.length + 1 > width) {
      lines.push(cur);
      cur = word;
    } else cur = cur ? `${cur} ${word}` : word;
  }
  lines.push(cur);
  return lines.slice(0, 4);
}

const pipe = await loadModel(dir, { threads: 2 });
const tiles: OverlayOptions[] = [];
for (const [i, text] of captions.entries()) {
  const { images: [img] } = await pipe.generate({ prompts: [{ text, weight: 1 }], width: 64, height: 64, steps: 20, cfgScale: 7, seed: i, images: 1 });
  const png = await sharp(Buffer.from(img.rgb), { raw: { width: 64, height: 64, channels: 3 } }).resize(CELL, CELL, { kernel: 'nearest' }).png().toBuffer();
  const x = (i % COLS) * W;
  const y = Math.floor(i / COLS) * H;
  tiles.push({ input: png, left: x + (W - CELL) / 2, top: y + 2 });
  const lines = wrap(text, 30).map((l, j) => `<text x="4" y="${11 + 10 * j}">${escape(l)}</text>`).join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H - CELL - 2}"><style>text{font:9px monospace;fill:#000}</style>${lines}</svg>`;
  tiles.push({ input: Buffer.from(svg), left: x, top: y + CELL + 2 });
}
await pipe.dispose();
const rows = Math.ceil(captions.length / COLS);
await sharp({ create: { width: COLS * W, height: rows * H, channels: 3, background: '#ffffff' } }).composite(tiles).png({ compressionLevel: 9 }).toFile(out);
console.log(`wrote ${out} (${captions.length} samples from ${dir})`);
