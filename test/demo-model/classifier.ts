/**
 * A geometric classifier for the demo model's synthetic shape world (scripts/demo-model/world.py). Nothing in it is
 * learned: it measures each object and applies fixed rules, so it can judge the generator without having been fitted
 * to the generator's output. classifier.test.ts shows it agrees with the renderer's ground truth first.
 *
 * - Every pixel gets its nearest palette colour (RGB distance; farther than 90 from every colour = unlabelled).
 * - Background: the most common label of a ring 2..4 pixels inside the edge (the VAE decoder's outermost pixels
 *   carry padding artefacts).
 * - Objects: the other colours with at least MIN_INTERIOR interior pixels (all 4 neighbours the same colour), so
 *   the thin anti-aliasing seams between two colours (red on blue blends to purple) are not objects. Each object is
 *   the largest 8-connected component of its colour.
 * - Shape, from three measurements of that component:
 *   - convexity (solidity): area / area of its convex hull (over pixel corners). Stars (~0.55) and crosses (~0.75)
 *     are the non-convex shapes;
 *   - corner count: 3 when a triangle on three hull vertices covers >= 65 % of the hull (a diamond: 50 %), 4 when a quadrilateral
  *     covers >= 85 % (a circle: 64 %), else 5 ("round"): triangle 3, square and diamond 4, circle 5;
 *   - fill ratio: area / bounding box: square ~1, circle ~0.79, triangle and diamond ~0.5.
 * - Position: the centre of the component's bounding box in a 3×3 grid of the image (the caption words of world.POSITIONS).
 */

export type Rgb = readonly [number, number, number];
export type Palette = Readonly<Record<string, Rgb>>;

export const SHAPES = ['circle', 'square', 'triangle', 'diamond', 'star', 'cross'] as const;
export type Shape = (typeof SHAPES)[number];

export interface DetectedObject {
  colour: string;
  shape: Shape;
  /** Caption phrase of the 3×3 grid cell holding the centroid, e.g. "in the top left corner". */
  position: string;
  pixels: number;
  fill: number;
  solidity: number;
  corners: number;
  cx: number;
  cy: number;
}

export interface Reading {
  background: string | null;
  /** Largest first. */
  objects: DetectedObject[];
  /** Share of all pixels labelled with each palette colour. */
  shares: Record<string, number>;
}

const MAX_DIST = 90;
const MIN_INTERIOR = 12;

/** world.POSITIONS by grid cell [row][column]. */
const GRID: readonly (readonly string[])[] = [
  ['in the top left corner', 'at the top', 'in the top right corner'],
  ['on the left', 'in the center', 'on the right'],
  ['in the bottom left corner', 'at the bottom', 'in the bottom right corner'],
];

export function labelPixels(rgb: Uint8Array, palette: Palette): Int8Array {
  const cols = Object.values(palette);
  const n = rgb.length / 3;
  const labels = new Int8Array(n);
  for (let p = 0; p < n; p++) {
    let best = -1;
    let bestD = MAX_DIST * MAX_DIST;
    for (let k = 0; k < cols.length; k++) {
      const d = (rgb[3 * p] - cols[k][0]) ** 2 + (rgb[3 * p + 1] - cols[k][1]) ** 2 + (rgb[3 * p + 2] - cols[k][2]) ** 2;
      if (d <= bestD) {
        bestD = d;
        best = k;
      }
    }
    labels[p] = best;
  }
  return labels;
}

type Point = readonly [number, number];

function cross(o: Point, a: Point, b: Point): number {
  return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
}

/** Andrew's monotone chain; counter-clockwise, no repeated end point. */
function convexHull(points: Point[]): Point[] {
  const pts = [...points].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  if (pts.length < 3) return pts;
  const lower: Point[] = [];
  for (const p of pts) {
    while (lower.length >= 2 && cross(lower[lower.length - 2], lower[lower.length - 1], p) <= 0) lower.pop();
    lower.push(p);
  }
  const upper: Point[] = [];
  for (let i = pts.length - 1; i >= 0; i--) {
    const p = pts[i];
    while (upper.length >= 2 && cross(upper[upper.length - 2], upper[upper.length - 1], p) <= 0) upper.pop();
    upper.push(p);
  }
  return [...lower.slice(0, -1), ...upper.slice(0, -1)];
}

function polygonArea(poly: readonly Point[]): number {
  let s = 0;
  for (let i = 0; i < poly.length; i++) {
    const a = poly[i];
    const b = poly[(i + 1) % poly.length];
    s += a[0] * b[1] - b[0] * a[1];
  }
  return Math.abs(s) / 2;
}

function distToSegment(p: Point, a: Point, b: Point): number {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const len2 = dx * dx + dy * dy;
  const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2));
  return Math.hypot(p[0] - a[0] - t * dx, p[1] - a[1] - t * dy);
}

function douglasPeucker(pts: readonly Point[], eps: number): Point[] {
  if (pts.length <= 2) return [...pts];
  let worst = 0;
  let at = 0;
  for (let i = 1; i < pts.length - 1; i++) {
    const d = distToSegment(pts[i], pts[0], pts[pts.length - 1]);
    if (d > worst) {
      worst = d;
      at = i;
    }
  }
  if (worst <= eps) return [pts[0], pts[pts.length - 1]];
  return [...douglasPeucker(pts.slice(0, at + 1), eps).slice(0, -1), ...douglasPeucker(pts.slice(at), eps)];
}

/**
 * How many corners a convex outline has: 3 when a triangle on three of its hull vertices covers nearly all of it, 4
 * when a quadrilateral does, else 5 (round or many-sided). Pixel staircases make a plain vertex count unreliable
 * (a triangle's blunt base corners count twice); the largest inscribed polygon does not care.
 */
function cornerCount(hull: readonly Point[], size: number): number {
  // A 1-pixel-tolerance simplification first keeps the search small without moving any real corner.
  const pts = simplifyClosed(hull, Math.max(0.5, 0.02 * size));
  const area = polygonArea(hull);
  if (pts.length <= 3) return pts.length;
  const n = pts.length;
  let tri = 0;
  let quad = 0;
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) {
      for (let c = b + 1; c < n; c++) {
        tri = Math.max(tri, polygonArea([pts[a], pts[b], pts[c]]));
        for (let d = c + 1; d < n; d++) quad = Math.max(quad, polygonArea([pts[a], pts[b], pts[c], pts[d]]));
      }
    }
  }
  if (tri >= 0.65 * area) return 3;
  if (quad >= 0.85 * area) return 4;
  return 5;
}

function simplifyClosed(hull: readonly Point[], eps: number): Point[] {
  if (hull.length <= 3) return [...hull];
  let i1 = 0;
  let far = -1;
  for (let j = 1; j < hull.length; j++) {
    const d = (hull[0][0] - hull[j][0]) ** 2 + (hull[0][1] - hull[j][1]) ** 2;
    if (d > far) {
      far = d;
      i1 = j;
    }
  }
  const a = douglasPeucker(hull.slice(0, i1 + 1), eps);
  const b = douglasPeucker([...hull.slice(i1), hull[0]], eps);
  return [...a.slice(0, -1), ...b.slice(0, -1)];
}

/** Largest 8-connected component of `mask` (pixel indices). */
function largestComponent(mask: Uint8Array, width: number, height: number): number[] {
  const seen = new Uint8Array(mask.length);
  let best: number[] = [];
  const stack: number[] = [];
  for (let start = 0; start < mask.length; start++) {
    if (!mask[start] || seen[start]) continue;
    const comp: number[] = [];
    seen[start] = 1;
    stack.push(start);
    while (stack.length) {
      const p = stack.pop()!;
      comp.push(p);
      const x = p % width;
      const y = (p - x) / width;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          const ny = y + dy;
          if (nx < 0 || ny < 0 || nx >= width || ny >= height) continue;
          const q = ny * width + nx;
          if (mask[q] && !seen[q]) {
            seen[q] = 1;
            stack.push(q);
          }
        }
      }
    }
    if (comp.length > best.length) best = comp;
  }
  return best;
}

export interface Measurements {
  pixels: number;
  fill: number;
  solidity: number;
  corners: number;
  cx: number;
  cy: number;
}

export function measure(pixels: readonly number[], width: number): Measurements {
  let x0 = Infinity;
  let x1 = -Infinity;
  let y0 = Infinity;
  let y1 = -Infinity;
  const corners = new Map<number, Point>();
  for (const p of pixels) {
    const x = p % width;
    const y = (p - x) / width;
    x0 = Math.min(x0, x);
    x1 = Math.max(x1, x);
    y0 = Math.min(y0, y);
    y1 = Math.max(y1, y);
    for (const [cx, cy] of [[x, y], [x + 1, y], [x, y + 1], [x + 1, y + 1]] as const) corners.set(cy * (width + 1) + cx, [cx, cy]);
  }
  const bw = x1 - x0 + 1;
  const bh = y1 - y0 + 1;
  const hull = convexHull([...corners.values()]);
  const hullArea = polygonArea(hull);
  return {
    pixels: pixels.length,
    fill: pixels.length / (bw * bh),
    solidity: hullArea > 0 ? pixels.length / hullArea : 1,
    corners: cornerCount(hull, Math.max(bw, bh)),
    // The bounding box's centre, as the renderer places shapes (a triangle's centroid sits low).
    cx: (x0 + x1 + 1) / 2,
    cy: (y0 + y1 + 1) / 2,
  };
}

/** The fixed rules on the three measurements (see the file comment). */
export function shapeOf(m: Pick<Measurements, 'fill' | 'solidity' | 'corners'>): Shape {
  if (m.solidity < 0.655) return 'star';
  if (m.solidity < 0.84) return 'cross';
  if (m.fill > 0.9) return 'square';
  if (m.corners >= 5) return m.fill > 0.6 ? 'circle' : 'diamond';
  if (m.corners <= 3) return 'triangle';
  return m.fill > 0.72 ? (m.fill > 0.82 ? 'square' : 'circle') : 'diamond';
}

export function positionOf(cx: number, cy: number, width: number, height: number): string {
  const col = Math.min(2, Math.floor((3 * cx) / width));
  const row = Math.min(2, Math.floor((3 * cy) / height));
  return GRID[row][col];
}

export function classify(rgb: Uint8Array, width: number, height: number, palette: Palette): Reading {
  const names = Object.keys(palette);
  const labels = labelPixels(rgb, palette);
  const counts = new Array<number>(names.length).fill(0);
  for (const l of labels) if (l >= 0) counts[l]++;
  const shares = Object.fromEntries(names.map((n, i) => [n, counts[i] / labels.length]));

  const ring = new Array<number>(names.length).fill(0);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const edge = Math.min(x, y, width - 1 - x, height - 1 - y);
      const l = labels[y * width + x];
      if (edge >= 2 && edge < 5 && l >= 0) ring[l]++;
    }
  }
  const bg = ring.some((c) => c > 0) ? ring.indexOf(Math.max(...ring)) : -1;

  const interior = new Array<number>(names.length).fill(0);
  for (let y = 1; y < height - 1; y++) {
    for (let x = 1; x < width - 1; x++) {
      const p = y * width + x;
      const l = labels[p];
      if (l >= 0 && l !== bg && labels[p - 1] === l && labels[p + 1] === l && labels[p - width] === l && labels[p + width] === l) interior[l]++;
    }
  }
  const objects: DetectedObject[] = [];
  for (let k = 0; k < names.length; k++) {
    if (k === bg || interior[k] < MIN_INTERIOR) continue;
    const mask = new Uint8Array(labels.length);
    for (let p = 0; p < labels.length; p++) mask[p] = labels[p] === k ? 1 : 0;
    const m = measure(largestComponent(mask, width, height), width);
    objects.push({ colour: names[k], shape: shapeOf(m), position: positionOf(m.cx, m.cy, width, height), ...m });
  }
  objects.sort((a, b) => b.pixels - a.pixels);
  return { background: bg >= 0 ? names[bg] : null, objects, shares };
}

/** What a caption (heldout.json / truth.json) asks for. */
export interface ExpectedObject {
  colour: string;
  shape: string;
  position?: string | null;
}

/**
 * Matches expected objects to detected ones by colour (colours in a scene differ). A one-object scene is judged on
 * its largest object; extra detected objects do not count against a caption.
 */
export function judge(reading: Reading, expected: readonly ExpectedObject[]): { colour: boolean; shape: boolean; position: boolean | null }[] {
  if (expected.length === 1) {
    const o = reading.objects[0];
    const e = expected[0];
    return [{
      colour: o?.colour === e.colour,
      shape: o !== undefined && o.colour === e.colour && o.shape === e.shape,
      position: e.position ? o !== undefined && o.colour === e.colour && o.position === e.position : null,
    }];
  }
  return expected.map((e) => {
    const o = reading.objects.find((d) => d.colour === e.colour);
    return { colour: o !== undefined, shape: o?.shape === e.shape, position: e.position ? o?.position === e.position : null };
  });
}
