/**
 * Lanczos resampling of 8-bit images exactly as Pillow's `Image.resize(size, Image.LANCZOS)` computes it — the resize
 * diffusers' VaeImageProcessor applies to init images and masks (`resample="lanczos"`; docs/engine-reference.md §6.4).
 *
 * Pillow (libImaging/Resample.c) resizes in two separable passes, horizontal first, each rounded to 8 bits: per output
 * pixel, a window of taps around the source centre, weights lanczos3(Δ / max(1, in/out)) normalised to sum 1, turned
 * into 22-bit fixed point, and the sum rounded by adding half and shifting. Downscaling widens the window (a low-pass),
 * so there is no aliasing.
 */
import { EngineError } from '../errors.ts';

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);
const SUPPORT = 3;

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = x * Math.PI;
  return Math.sin(px) / px;
}

function lanczos(x: number): number {
  return x >= -SUPPORT && x < SUPPORT ? sinc(x) * sinc(x / SUPPORT) : 0;
}

/** One pass's taps: for output index i, `count[i]` weights (fixed point) starting at source index `first[i]`. */
interface Taps {
  first: Int32Array;
  count: Int32Array;
  size: number;
  weights: Int32Array;
}

/** Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for a full-range box (0 … inSize). */
function taps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = SUPPORT * filterScale;
  const size = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * size);
  const k = new Float64Array(size);
  for (let i = 0; i < outSize; i++) {
    const center = (i + 0.5) * scale;
    // C's (int) cast truncates toward zero; negative starts are clamped to 0 anyway.
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let total = 0;
    for (let x = 0; x < xmax; x++) {
      k[x] = lanczos((x + xmin - center + 0.5) / filterScale);
      total += k[x];
    }
    for (let x = 0; x < xmax; x++) {
      const w = total !== 0 ? k[x] / total : k[x];
      weights[i * size + x] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
    }
    first[i] = xmin;
    count[i] = xmax;
  }
  return { first, count, size, weights };
}

function clip8(value: number): number {
  if (value >= ONE * 256) return 255;
  if (value <= 0) return 0;
  return Math.floor(value / ONE);
}

/**
 * Resizes an 8-bit image (row-major, `channels` interleaved values per pixel) to outWidth × outHeight, stretching it
 * (no aspect-ratio handling: diffusers' `resize_mode="default"`). Same size returns a copy.
 * @throws {EngineError} `invalid_argument` for sizes that are not positive integers or a buffer of the wrong length
 * @example resizeLanczos(rgb, 640, 480, 3, 512, 512) // what PIL's image.resize((512, 512), Image.LANCZOS) returns
 */
export function resizeLanczos(
  data: Uint8Array,
  width: number,
  height: number,
  channels: number,
  outWidth: number,
  outHeight: number,
): Uint8Array {
  for (const [name, value] of [['width', width], ['height', height], ['outWidth', outWidth], ['outHeight', outHeight], ['channels', channels]] as const) {
    if (!Number.isInteger(value) || value < 1) {
      throw new EngineError('invalid_argument', `Cannot resize an image: ${name} must be an integer >= 1, got ${String(value)}`);
    }
  }
  if (data.length !== width * height * channels) {
    throw new EngineError('invalid_argument', `Cannot resize an image: ${width}×${height}×${channels} needs ${width * height * channels} bytes, got ${data.length}`);
  }
  if (width === outWidth && height === outHeight) return data.slice();
  const vertical = taps(height, outHeight);
  let source = data;
  let rowOffset = 0;
  let rows = height;
  if (width !== outWidth) {
    // Only the source rows the vertical pass reads are resampled horizontally.
    const firstRow = vertical.first[0];
    const lastRow = vertical.first[outHeight - 1] + vertical.count[outHeight - 1];
    rows = lastRow - firstRow;
    rowOffset = firstRow;
    source = horizontal(data, width, channels, taps(width, outWidth), outWidth, firstRow, rows);
  }
  if (height === outHeight) return source;
  return verticalPass(source, source === data ? width : outWidth, channels, vertical, outHeight, rowOffset);
}

function horizontal(data: Uint8Array, width: number, channels: number, t: Taps, outWidth: number, firstRow: number, rows: number): Uint8Array {
  const out = new Uint8Array(outWidth * rows * channels);
  for (let y = 0; y < rows; y++) {
    const rowIn = (y + firstRow) * width * channels;
    const rowOut = y * outWidth * channels;
    for (let x = 0; x < outWidth; x++) {
      const start = t.first[x];
      const n = t.count[x];
      const wBase = x * t.size;
      for (let c = 0; c < channels; c++) {
        let acc = HALF;
        for (let k = 0; k < n; k++) acc += data[rowIn + (start + k) * channels + c] * t.weights[wBase + k];
        out[rowOut + x * channels + c] = clip8(acc);
      }
    }
  }
  return out;
}

function verticalPass(data: Uint8Array, width: number, channels: number, t: Taps, outHeight: number, rowOffset: number): Uint8Array {
  const stride = width * channels;
  const out = new Uint8Array(outHeight * stride);
  for (let y = 0; y < outHeight; y++) {
    const start = t.first[y] - rowOffset;
    const n = t.count[y];
    const wBase = y * t.size;
    for (let i = 0; i < stride; i++) {
      let acc = HALF;
      for (let k = 0; k < n; k++) acc += data[(start + k) * stride + i] * t.weights[wBase + k];
      out[y * stride + i] = clip8(acc);
    }
  }
  return out;
}
