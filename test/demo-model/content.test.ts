/**
 * End-to-end content test of the embedded demo model (models/demo, trained by scripts/demo-model/train.py) through
 * the same engine code path as real Stable Diffusion exports. Captions are held-out colour × shape × background
 * combinations that never appeared in training; a colour-histogram detector checks what is in each picture.
 * Figures are printed (console.log) for BENCHMARKS.md.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel, ClipTokenizer } from '../../src/engine/index.ts';
import type { StableDiffusionPipeline, WeightedPrompt } from '../../src/engine/index.ts';
import { detect, type Palette, type Rgb } from './detector.ts';

const MODEL_DIR = fileURLToPath(new URL('../../models/demo/', import.meta.url));

interface HeldOut {
  palette: Record<string, [number, number, number]>;
  shapes: string[];
  captions: { caption: string; colour: string; shape: string; background: string }[];
}

const held = JSON.parse(readFileSync(join(MODEL_DIR, 'heldout.json'), 'utf8')) as HeldOut;
const palette: Palette = Object.fromEntries(Object.entries(held.palette).map(([k, v]) => [k, v as unknown as Rgb]));
const SIZE = 64;
const STEPS = 20;

let pipe: StableDiffusionPipeline | undefined;
async function pipeline(): Promise<StableDiffusionPipeline> {
  pipe ??= await loadModel(MODEL_DIR, { threads: 2 });
  return pipe;
}

async function draw(prompts: WeightedPrompt[], seed: number, cfgScale: number) {
  const p = await pipeline();
  const { images: [img] } = await p.generate({ prompts, width: SIZE, height: SIZE, steps: STEPS, cfgScale, seed, images: 1 });
  assert.equal(img.rgb.length, SIZE * SIZE * 3);
  return detect(img.rgb, SIZE, SIZE, palette);
}

interface Tally {
  n: number;
  colour: number;
  background: number;
  shape: number;
  both: number;
}

/** Every held-out caption with SEEDS_PER_CAPTION seeds (60 captions x 2 = 120 images). */
const SEEDS_PER_CAPTION = 2;

async function heldOutTally(cfgScale: number): Promise<Tally> {
  const t: Tally = { n: 0, colour: 0, background: 0, shape: 0, both: 0 };
  for (let s = 0; s < SEEDS_PER_CAPTION; s++) {
    for (const [i, c] of held.captions.entries()) {
      const d = await draw([{ text: c.caption, weight: 1 }], 1000 * (s + 1) + i, cfgScale);
      t.n++;
      if (d.colour === c.colour) t.colour++;
      if (d.background === c.background) t.background++;
      if (d.shape === c.shape) t.shape++;
      if (d.colour === c.colour && d.background === c.background) t.both++;
    }
  }
  return t;
}

const pct = (a: number, n: number) => `${((100 * a) / n).toFixed(1)} %`;

test('demo model: folder is small and the vocabulary covers the caption language', () => {
  let bytes = 0;
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const full = join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else bytes += statSync(full).size;
    }
  };
  walk(MODEL_DIR);
  console.log(`demo model size: ${(bytes / 1e6).toFixed(2)} MB`);
  assert.ok(bytes <= 20e6, `models/demo is ${bytes} bytes (> 20 MB)`);
  const tok = ClipTokenizer.fromDirectorySync(join(MODEL_DIR, 'tokenizer'));
  assert.ok(held.captions.length >= 50);
  for (const c of held.captions) {
    // One whole-word token per word, plus BOS/EOS.
    assert.equal(tok.tokenize(c.caption).length, c.caption.split(' ').length + 2, c.caption);
  }
});

let tally7: Tally | undefined;

test('demo model: held-out captions are drawn with the right colours (cfg 7, 20 steps)', async () => {
  const t = await heldOutTally(7);
  tally7 = t;
  console.log(
    `held-out (n=${t.n}, cfg 7, ${STEPS} steps, ${SIZE}px): shape colour ${pct(t.colour, t.n)}, ` +
      `background ${pct(t.background, t.n)}, shape ${pct(t.shape, t.n)}, colour+background ${pct(t.both, t.n)}`,
  );
  assert.ok(t.n >= 50);
  assert.ok(t.colour / t.n >= 0.8, `shape colour agreement ${pct(t.colour, t.n)} < 80 %`);
  assert.ok(t.background / t.n >= 0.9, `background agreement ${pct(t.background, t.n)} < 90 %`);
});

test('demo model: cfg 7 agrees with the caption more often than cfg 1', async () => {
  const t7 = tally7 ?? (await heldOutTally(7));
  const t1 = await heldOutTally(1);
  console.log(
    `cfg 1 (n=${t1.n}, same seeds): shape colour ${pct(t1.colour, t1.n)}, background ${pct(t1.background, t1.n)}, ` +
      `shape ${pct(t1.shape, t1.n)}, colour+background ${pct(t1.both, t1.n)}; ` +
      `images agreeing with the caption (colour and background): cfg 7 ${t7.both} vs cfg 1 ${t1.both}`,
  );
  assert.ok(t7.both > t1.both, `cfg 7 (${t7.both}) does not agree more often than cfg 1 (${t1.both})`);
});

test('demo model: the negative prompt "red" lowers the red share', async () => {
  const captions = held.captions.filter((c) => c.colour === 'red').map((c) => c.caption);
  captions.push('a large red circle on a white background', 'a red square on a blue background');
  let without = 0;
  let withNeg = 0;
  let n = 0;
  for (const [i, text] of captions.entries()) {
    for (const seed of [1, 2]) {
      const a = await draw([{ text, weight: 1 }], 77 * i + seed, 7);
      const b = await draw([{ text, weight: 1 }, { text: 'red', weight: -1 }], 77 * i + seed, 7);
      without += a.shares.red;
      withNeg += b.shares.red;
      n++;
    }
  }
  console.log(
    `negative prompt "red" (${n} images, same seeds): mean red share ${(100 * without / n).toFixed(2)} % -> ` +
      `${(100 * withNeg / n).toFixed(2)} %`,
  );
  assert.ok(withNeg < without, 'negative prompt "red" did not lower the red share');
});

test('demo model: timing of one 64x64 image at 20 steps (cfg 7)', async () => {
  const p = await pipeline();
  const opts = { prompts: [{ text: 'a red circle on a blue background', weight: 1 }], width: SIZE, height: SIZE,
    steps: STEPS, cfgScale: 7, seed: 5, images: 1 };
  await p.generate(opts);
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await p.generate(opts);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  console.log(`one 64x64 image, 20 steps, cfg 7, 2 threads: median ${times[2].toFixed(0)} ms (min ${times[0].toFixed(0)} ms)`);
});

test('demo model: release', async () => {
  await pipe?.dispose();
});
