/**
 * A tiny content detector for the demo model's synthetic shape world (scripts/demo-model/world.py).
 * Mirrors scripts/demo-model/eval.py `classify`:
 * - every pixel is labelled with its nearest palette colour (RGB distance; > 90 = unlabelled),
 * - background = the most common label of a ring 2..4 pixels inside the edge (the VAE decoder's outermost pixels
 *   carry padding artefacts),
 * - shape colour = the most common label among the remaining non-background pixels (at least 8 pixels),
 * - shape = a rule on the shape-colour mask: fill ratio of its bounding box, whether the row widths grow downwards
 *   (triangle), where its widest rows are, and how many rows are (nearly) as wide as the widest.
 * On ground-truth renders it gets colours and backgrounds 100 % right and shapes ~93 % (small stars/diamonds/
 * crosses are the confusions).
 */

export type Rgb = readonly [number, number, number];
export type Palette = Readonly<Record<string, Rgb>>;

export interface Detection {
  background: string | null;
  colour: string | null;
  shape: string | null;
  /** Share of all pixels labelled with each palette colour. */
  shares: Record<string, number>;
  fill: number;
}

const MAX_DIST = 90;
const MIN_SHAPE_PIXELS = 8;

function argmax(counts: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < counts.length; i++) if (counts[i] > counts[best]) best = i;
  return best;
}

/** Pearson correlation between row index and row width (0 when undefined). */
function correlation(widths: readonly number[]): number {
  const n = widths.length;
  if (n <= 2) return 0;
  const my = (n - 1) / 2;
  const mw = widths.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (i - my) * (widths[i] - mw);
    sxx += (i - my) ** 2;
    syy += (widths[i] - mw) ** 2;
  }
  return syy > 0 ? sxy / Math.sqrt(sxx * syy) : 0;
}

export function labelPixels(rgb: Uint8Array, palette: Palette): Int8Array {
  const names = Object.keys(palette);
  const cols = names.map((n) => palette[n]);
  const n = rgb.length / 3;
  const labels = new Int8Array(n);
  for (let p = 0; p < n; p++) {
    const r = rgb[3 * p];
    const g = rgb[3 * p + 1];
    const b = rgb[3 * p + 2];
    let best = -1;
    let bestD = Infinity;
    for (let k = 0; k < cols.length; k++) {
      const dr = r - cols[k][0];
      const dg = g - cols[k][1];
      const db = b - cols[k][2];
      const d = dr * dr + dg * dg + db * db;
      if (d < bestD) {
        bestD = d;
        best = k;
      }
    }
    labels[p] = Math.sqrt(bestD) > MAX_DIST ? -1 : best;
  }
  return labels;
}

export function detect(rgb: Uint8Array, width: number, height: number, palette: Palette): Detection {
  const names = Object.keys(palette);
  const lab = labelPixels(rgb, palette);
  const border = new Array<number>(names.length).fill(0);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const edge = Math.min(y, height - 1 - y, x, width - 1 - x);
      if (edge >= 2 && edge < 5) {
        const l = lab[y * width + x];
        if (l >= 0) border[l]++;
      }
    }
  }
  const bg = border.some((c) => c > 0) ? argmax(border) : -1;
  const all = new Array<number>(names.length).fill(0);
  const rest = new Array<number>(names.length).fill(0);
  for (let p = 0; p < lab.length; p++) {
    const l = lab[p];
    if (l < 0) continue;
    all[l]++;
    if (l !== bg) rest[l]++;
  }
  const sc = rest.length && rest[argmax(rest)] >= MIN_SHAPE_PIXELS ? argmax(rest) : -1;
  const shares: Record<string, number> = {};
  names.forEach((n, i) => (shares[n] = all[i] / lab.length));
  let shape: string | null = null;
  let fill = 0;
  if (sc >= 0) {
    let x0 = width;
    let x1 = -1;
    let y0 = height;
    let y1 = -1;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        if (lab[y * width + x] !== sc) continue;
        x0 = Math.min(x0, x);
        x1 = Math.max(x1, x);
        y0 = Math.min(y0, y);
        y1 = Math.max(y1, y);
      }
    }
    const widths: number[] = [];
    let count = 0;
    for (let y = y0; y <= y1; y++) {
      let w = 0;
      for (let x = x0; x <= x1; x++) if (lab[y * width + x] === sc) w++;
      widths.push(w);
      count += w;
    }
    fill = count / ((x1 - x0 + 1) * (y1 - y0 + 1));
    const maxW = Math.max(...widths);
    const widest = widths.map((w, i) => (w === maxW ? i : -1)).filter((i) => i >= 0);
    const p = widest.reduce((a, b) => a + b, 0) / widest.length / Math.max(1, widths.length - 1);
    const q = widths.filter((w) => w >= 0.85 * maxW).length / widths.length;
    const corr = correlation(widths);
    if (fill > 0.86) shape = 'square';
    else if (fill > 0.68) shape = 'circle';
    else if (fill < 0.43) shape = 'star';
    else if (corr > 0.8) shape = 'triangle';
    else if (q > 0.22 && fill > 0.52) shape = 'cross';
    else if (p > 0.7) shape = 'triangle';
    else shape = 'diamond';
  }
  return { background: bg >= 0 ? names[bg] : null, colour: sc >= 0 ? names[sc] : null, shape, shares, fill };
}
