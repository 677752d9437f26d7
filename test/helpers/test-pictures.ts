/**
 * The 64×48 test picture of the image-input tests (colour ramps with a bright block, as the engine tests use), the
 * rectangle their masks cover, and the encoders and comparisons they share.
 */
import { crc32 } from 'node:zlib';
import sharp from 'sharp';

export const W = 64;
export const H = 48;

/** The picture as raw RGB. */
export function pictureRgb(): Buffer {
  const rgb = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const o = (y * W + x) * 3;
      rgb[o] = (x * 4) & 255;
      rgb[o + 1] = (y * 5) & 255;
      rgb[o + 2] = x > 20 && x < 44 && y > 10 && y < 30 ? 240 : 60;
    }
  }
  return rgb;
}

/** The region the masks repaint. */
export const inRectangle = (x: number, y: number): boolean => x >= 16 && x < 40 && y >= 8 && y < 32;

export function png(raw: Buffer, channels: 1 | 2 | 3 | 4, width = W, height = H): Promise<Buffer> {
  return sharp(raw, { raw: { width, height, channels } }).png().toBuffer();
}

export const dataUrl = (bytes: Buffer, type = 'image/png') => `data:${type};base64,${bytes.toString('base64')}`;

/** The picture as RGBA, transparent in the rectangle. */
export function rgbaWithHole(): Buffer {
  const rgb = pictureRgb();
  const rgba = Buffer.alloc(W * H * 4);
  for (let p = 0; p < W * H; p++) {
    rgb.copy(rgba, p * 4, p * 3, p * 3 + 3);
    rgba[p * 4 + 3] = inRectangle(p % W, Math.floor(p / W)) ? 0 : 255;
  }
  return rgba;
}

/** A PNG of only its signature and IHDR, claiming `width`×`height`. */
export function headerOnlyPng(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const type = Buffer.from('IHDR');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(13);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([type, ihdr])) >>> 0);
  const iend = Buffer.from([0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), len, type, ihdr, crc, iend]);
}

/** Mean absolute difference per channel value of two W×H RGB buffers, over the pixels `where` selects. */
export function meanDiff(a: Buffer, b: Buffer, where: (x: number, y: number) => boolean = () => true): number {
  let sum = 0;
  let n = 0;
  for (let p = 0; p < W * H; p++) {
    if (!where(p % W, Math.floor(p / W))) continue;
    for (let c = 0; c < 3; c++) sum += Math.abs(a[p * 3 + c] - b[p * 3 + c]);
    n += 3;
  }
  return sum / n;
}
