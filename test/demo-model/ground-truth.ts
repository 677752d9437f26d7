/**
 * The classifier against the training renderer's ground truth: test/fixtures/demo-shapes holds scenes rendered by
 * scripts/demo-model/world.py (regenerate with scripts/demo-model/render_fixture.py) and what each one shows.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { classify, judge, type ExpectedObject, type Palette } from './classifier.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/demo-shapes/', import.meta.url));

interface Truth {
  columns: number;
  size: number;
  scenes: { background: string; objects: (ExpectedObject & { size: string })[] }[];
}

export interface Agreement {
  objects: number;
  scenes: number;
  /** Objects whose colour, shape and position all agree, in scenes whose background agrees. */
  all: number;
  shape: number;
  colour: number;
  position: number;
  background: number;
  misses: string[];
}

/** `blur`: Gaussian σ in pixels applied to each scene first (soft edges, as a generator draws them). */
export async function groundTruthAgreement(palette: Palette, blur = 0): Promise<Agreement> {
  const truth = JSON.parse(readFileSync(`${FIXTURE}truth.json`, 'utf8')) as Truth;
  const { data, info } = await sharp(`${FIXTURE}renders.png`).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const s = truth.size;
  const a: Agreement = { objects: 0, scenes: 0, all: 0, shape: 0, colour: 0, position: 0, background: 0, misses: [] };
  for (const [i, scene] of truth.scenes.entries()) {
    const rgb = new Uint8Array(s * s * 3);
    const ox = (i % truth.columns) * s;
    const oy = Math.floor(i / truth.columns) * s;
    for (let y = 0; y < s; y++) rgb.set(data.subarray(((oy + y) * info.width + ox) * 3, ((oy + y) * info.width + ox + s) * 3), y * s * 3);
    const scenePixels = blur > 0 ? new Uint8Array(await sharp(rgb, { raw: { width: s, height: s, channels: 3 } }).blur(blur).raw().toBuffer()) : rgb;
    const reading = classify(scenePixels, s, s, palette);
    const bg = reading.background === scene.background;
    a.scenes++;
    if (bg) a.background++;
    for (const [j, v] of judge(reading, scene.objects).entries()) {
      a.objects++;
      if (v.colour) a.colour++;
      if (v.shape) a.shape++;
      if (v.position) a.position++;
      if (bg && v.colour && v.shape && v.position) a.all++;
      else {
        const e = scene.objects[j];
        a.misses.push(`scene ${i}: ${e.size} ${e.colour} ${e.shape} ${e.position} on ${scene.background} read as ` +
          JSON.stringify(reading.objects.map((o) => `${o.colour} ${o.shape} ${o.position}`)) + ` on ${reading.background}`);
      }
    }
  }
  return a;
}
