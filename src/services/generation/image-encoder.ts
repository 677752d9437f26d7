/** The only sharp user: raw RGB → (upscaled) PNG with a parameters chunk + 256 px JPEG thumbnail. */
import type { Sharp, SharpOptions } from 'sharp';
import { insertTextChunk } from './png-text.ts';

type SharpFactory = (input: Buffer, options: SharpOptions) => Sharp;
let loading: Promise<SharpFactory> | undefined;

/** sharp (libvips) is loaded when the first image is encoded: an API-only process never needs it. */
function loadSharp(): Promise<SharpFactory> {
  return (loading ??= import('sharp').then(({ default: sharp }) => {
    sharp.cache(false);
    return sharp;
  }));
}

export const THUMBNAIL_SIZE = 256;

export interface EncodedImage {
  png: Buffer;
  thumbnail: Buffer;
  width: number;
  height: number;
}

export async function encodeImage(
  image: { width: number; height: number; rgb: Uint8Array },
  target: { width: number; height: number },
  parameters: string,
): Promise<EncodedImage> {
  const sharp = await loadSharp();
  const raw = { raw: { width: image.width, height: image.height, channels: 3 as const } };
  let pixels: { data: Buffer; width: number; height: number } = { data: Buffer.from(image.rgb.buffer, image.rgb.byteOffset, image.rgb.byteLength), width: image.width, height: image.height };
  if (image.width !== target.width || image.height !== target.height) {
    const data = await sharp(pixels.data, raw).resize(target.width, target.height, { fit: 'fill', kernel: 'lanczos3' }).raw().toBuffer();
    pixels = { data, width: target.width, height: target.height };
  }
  const input = () => sharp(pixels.data, { raw: { width: pixels.width, height: pixels.height, channels: 3 } });
  const [png, thumbnail] = await Promise.all([
    input().png({ compressionLevel: 6 }).toBuffer(),
    input().resize(THUMBNAIL_SIZE, THUMBNAIL_SIZE, { fit: 'inside' }).jpeg({ quality: 82, mozjpeg: false }).toBuffer(),
  ]);
  return { png: insertTextChunk(png, 'parameters', parameters), thumbnail, width: pixels.width, height: pixels.height };
}

/** A live preview (at most 256 px, see the engine's previews) → a JPEG data URL for the event stream. */
export async function previewDataUrl(preview: { width: number; height: number; rgb: Uint8Array }): Promise<string> {
  const sharp = await loadSharp();
  const data = Buffer.from(preview.rgb.buffer, preview.rgb.byteOffset, preview.rgb.byteLength);
  const jpeg = await sharp(data, { raw: { width: preview.width, height: preview.height, channels: 3 } }).jpeg({ quality: 70 }).toBuffer();
  return `data:image/jpeg;base64,${jpeg.toString('base64')}`;
}
