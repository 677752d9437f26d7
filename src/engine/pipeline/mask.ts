/**
 * Inpainting masks (docs/engine-reference.md §6.5): building the engine's mask from what an API receives, and turning
 * it into the binary pixel mask and latent mask diffusers' StableDiffusionInpaintPipeline works with.
 *
 * diffusers' mask processor (VaeImageProcessor with do_convert_grayscale, do_binarize, no normalisation): resize to
 * the generation size (Lanczos), divide by 255, binarise at 0.5; the UNet-side mask is that binary mask resized to the
 * latent grid with torch's `interpolate` (mode "nearest": the top-left pixel of each s×s block).
 */
import { EngineError } from '../errors.ts';
import type { MaskImage, RgbImage } from '../types.ts';
import { resizeLanczos } from './resize.ts';

/** Largest accepted mask blur σ (A1111's slider stops at 64 too); the kernel grows with it. */
export const MAX_MASK_BLUR = 64;

/** A decoded 8-bit image with 1 (gray), 3 (RGB) or 4 (RGBA) interleaved channels, row-major. */
export interface PixelBuffer {
  width: number;
  height: number;
  channels: 1 | 3 | 4;
  data: Uint8Array;
}

function checkBuffer(width: number, height: number, channels: number, length: number, what: string): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new EngineError('invalid_argument', `Cannot build the mask: the ${what} size must be positive integers, got ${String(width)}×${String(height)}`);
  }
  if (length !== width * height * channels) {
    throw new EngineError('invalid_argument', `Cannot build the mask: a ${width}×${height} ${what} with ${channels} channels has ${width * height * channels} bytes, got ${length}`);
  }
}

/** Pillow's `convert("L")` of one RGB pixel: ITU-R 601 luma in 16-bit fixed point, rounded. */
function luma(r: number, g: number, b: number): number {
  return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >>> 16;
}

/**
 * The engine mask from a mask image: gray level (Pillow's luma for RGB/RGBA, alpha ignored) where `repaint` is
 * 'white', its inverse where it is 'black' (Stability's MASK_IMAGE_WHITE / MASK_IMAGE_BLACK).
 * @throws {EngineError} `invalid_argument` for a buffer that does not match its size
 */
export function maskFromImage(image: PixelBuffer, repaint: 'white' | 'black'): MaskImage {
  const { width, height, channels, data } = image;
  if (channels !== 1 && channels !== 3 && channels !== 4) {
    throw new EngineError('invalid_argument', `Cannot build the mask: channels must be 1, 3 or 4, got ${String(channels)}`);
  }
  if (repaint !== 'white' && repaint !== 'black') {
    throw new EngineError('invalid_argument', `Cannot build the mask: repaint must be 'white' or 'black', got ${String(repaint)}`);
  }
  checkBuffer(width, height, channels, data.length, 'mask image');
  const out = new Uint8Array(width * height);
  for (let p = 0; p < out.length; p++) {
    const o = p * channels;
    const gray = channels === 1 ? data[o] : luma(data[o], data[o + 1], data[o + 2]);
    out[p] = repaint === 'white' ? gray : 255 - gray;
  }
  return { width, height, data: out };
}

/**
 * Splits an RGBA init image into the RGB image and the engine mask of its alpha channel: transparent = repaint
 * (Stability's INIT_IMAGE_ALPHA: fully transparent pixels are replaced, fully opaque ones kept). The colour
 * channels are kept as they are, as Pillow's `convert("RGB")` does.
 * @throws {EngineError} `invalid_argument` for a buffer that does not match its size
 */
export function maskFromAlpha(rgba: { width: number; height: number; data: Uint8Array }): { image: RgbImage; mask: MaskImage } {
  const { width, height, data } = rgba;
  checkBuffer(width, height, 4, data.length, 'RGBA image');
  const plane = width * height;
  const rgb = new Uint8Array(plane * 3);
  const mask = new Uint8Array(plane);
  for (let p = 0; p < plane; p++) {
    rgb[p * 3] = data[p * 4];
    rgb[p * 3 + 1] = data[p * 4 + 1];
    rgb[p * 3 + 2] = data[p * 4 + 2];
    mask[p] = 255 - data[p * 4 + 3];
  }
  return { image: { width, height, rgb }, mask: { width, height, data: mask } };
}

/**
 * Separable Gaussian blur with σ = `sigma` pixels, taps out to ⌊2.5σ + 0.5⌋ (A1111's mask_blur kernel,
 * 2⌊2.5σ + 0.5⌋ + 1 wide), edges extended. Returns new values (float64).
 */
export function gaussianBlur(values: ArrayLike<number>, width: number, height: number, sigma: number): Float64Array {
  const radius = Math.floor(2.5 * sigma + 0.5);
  const kernel = new Float64Array(2 * radius + 1);
  let total = 0;
  for (let k = -radius; k <= radius; k++) total += kernel[k + radius] = Math.exp(-(k * k) / (2 * sigma * sigma));
  for (let k = 0; k < kernel.length; k++) kernel[k] /= total;
  const clamp = (v: number, max: number): number => (v < 0 ? 0 : v > max ? max : v);
  const rows = new Float64Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let acc = 0;
      for (let k = -radius; k <= radius; k++) acc += kernel[k + radius] * values[y * width + clamp(x + k, width - 1)];
      rows[y * width + x] = acc;
    }
  }
  const out = new Float64Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let acc = 0;
      for (let k = -radius; k <= radius; k++) acc += kernel[k + radius] * rows[clamp(y + k, height - 1) * width + x];
      out[y * width + x] = acc;
    }
  }
  return out;
}

export interface PreparedMask {
  /** Binary mask (1 = repaint) at the generation size, row-major. */
  pixels: Float32Array;
  /** Binary mask at the latent size (height/s × width/s): the pixel mask's top-left pixel of each s×s block. */
  latents: Float32Array;
}

/**
 * The engine mask at the generation size: resized like the init image (Pillow Lanczos, stretched), optionally
 * blurred (σ = `blur` px; A1111 and diffusers blur before binarising too, so the blur rounds and shifts the edge of
 * the repainted region rather than making a soft mask), binarised at 0.5, and sampled down to the latent grid.
 */
export function prepareMask(mask: MaskImage, width: number, height: number, vaeScaleFactor: number, blur = 0): PreparedMask {
  const resized = resizeLanczos(mask.data, mask.width, mask.height, 1, width, height);
  const plane = width * height;
  const pixels = new Float32Array(plane);
  if (blur > 0) {
    const blurred = gaussianBlur(resized, width, height, blur);
    for (let p = 0; p < plane; p++) pixels[p] = blurred[p] / 255 >= 0.5 ? 1 : 0;
  } else {
    // float32 division as diffusers' pil_to_numpy: 128/255 ≥ 0.5 > 127/255.
    for (let p = 0; p < plane; p++) pixels[p] = Math.fround(resized[p] / 255) >= 0.5 ? 1 : 0;
  }
  const s = vaeScaleFactor;
  const lw = width / s;
  const lh = height / s;
  const latents = new Float32Array(lw * lh);
  for (let y = 0; y < lh; y++) for (let x = 0; x < lw; x++) latents[y * lw + x] = pixels[y * s * width + x * s];
  return { pixels, latents };
}
