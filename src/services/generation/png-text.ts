/** PNG tEXt chunks: A1111-style "parameters" text inserted right after IHDR. */
import { crc32 } from 'node:zlib';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Returns a copy of `png` with a tEXt chunk (Latin-1 keyword and text) after the IHDR chunk. */
export function insertTextChunk(png: Uint8Array, keyword: string, text: string): Buffer {
  const buf = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  if (buf.length < 33 || !buf.subarray(0, 8).equals(SIGNATURE) || buf.toString('latin1', 12, 16) !== 'IHDR') {
    throw new Error('Cannot add a text chunk: the data is not a PNG');
  }
  if (!/^[\x20-\x7e]{1,79}$/.test(keyword)) throw new Error(`Cannot add a text chunk: invalid keyword "${keyword}"`);
  const ihdrEnd = 8 + 12 + buf.readUInt32BE(8);
  // tEXt is Latin-1; characters outside it are replaced so the chunk stays valid.
  const data = Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0]), Buffer.from(text.replace(/[^\x00-\xff]/g, '?'), 'latin1')]);
  const chunk = Buffer.alloc(12 + data.length);
  chunk.writeUInt32BE(data.length, 0);
  chunk.write('tEXt', 4, 'latin1');
  data.copy(chunk, 8);
  chunk.writeUInt32BE(crc32(chunk.subarray(4, 8 + data.length)) >>> 0, 8 + data.length);
  return Buffer.concat([buf.subarray(0, ihdrEnd), chunk, buf.subarray(ihdrEnd)]);
}

/** Reads all tEXt chunks (keyword → text). */
export function readTextChunks(png: Uint8Array): Record<string, string> {
  const buf = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  const out: Record<string, string> = {};
  let pos = 8;
  while (pos + 12 <= buf.length) {
    const len = buf.readUInt32BE(pos);
    const type = buf.toString('latin1', pos + 4, pos + 8);
    if (type === 'tEXt') {
      const data = buf.subarray(pos + 8, pos + 8 + len);
      const nul = data.indexOf(0);
      if (nul > 0) out[data.toString('latin1', 0, nul)] = data.toString('latin1', nul + 1);
    }
    if (type === 'IEND') break;
    pos += 12 + len;
  }
  return out;
}

export interface ParametersInfo {
  prompt: string;
  negativePrompt: string;
  steps: number;
  sampler: string;
  cfgScale: number;
  seed: number;
  width: number;
  height: number;
  model: string;
  style?: string | null;
  /** Image-to-image: diffusers' strength (A1111's "Denoising strength"). */
  denoisingStrength?: number;
  /** Hires fix: A1111's "Hires upscale" and "Hires steps". */
  hires?: { scale: number; steps: number };
}

/** "prompt\nNegative prompt: …\nSteps: N, Sampler: X, CFG scale: Y, Seed: Z, Size: WxH, Model: name" */
export function parametersText(p: ParametersInfo): string {
  const lines = [p.prompt];
  if (p.negativePrompt) lines.push(`Negative prompt: ${p.negativePrompt}`);
  const fields = [`Steps: ${p.steps}`, `Sampler: ${p.sampler}`, `CFG scale: ${p.cfgScale}`, `Seed: ${p.seed}`, `Size: ${p.width}x${p.height}`, `Model: ${p.model}`];
  if (p.style) fields.push(`Style: ${p.style}`);
  if (p.denoisingStrength !== undefined) fields.push(`Denoising strength: ${Number(p.denoisingStrength.toFixed(4))}`);
  if (p.hires) fields.push(`Hires upscale: ${p.hires.scale}`, `Hires steps: ${p.hires.steps}`, 'Hires upscaler: Lanczos');
  lines.push(fields.join(', '));
  return lines.join('\n');
}

/** One `Key: value` of the settings line; a quoted value may hold commas (A1111 quotes those). */
const SETTING = /\s*(\w[\w \-/+]{0,63}):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)/g;
/** A settings line longer than this is not read as one (the text comes from uploaded PNGs; A1111's are far shorter). */
const SETTINGS_LINE_MAX = 4000;

/**
 * The reverse of parametersText(), as A1111's /png-info reads it: { Prompt, Negative prompt, and every setting of
 * the last line ("Size: 512x768" also gives Size-1 and Size-2) }. Text without a settings line is all prompt.
 */
export function parseParametersText(text: string): Record<string, string> {
  const lines = text.trimEnd().split('\n');
  const out: Record<string, string> = {};
  const last = lines[lines.length - 1] ?? '';
  const settings = last.length <= SETTINGS_LINE_MAX ? [...last.matchAll(SETTING)].filter((m) => m[1] !== undefined && m[2] !== undefined) : [];
  if (lines.length > 1 && settings.length >= 3) {
    lines.pop();
    for (const [, key, value] of settings) {
      const unquoted = value!.startsWith('"') ? value!.slice(1, -1).replace(/\\(.)/g, '$1') : value!.trim();
      out[key!.trim()] = unquoted;
      const size = key!.trim() === 'Size' ? /^(\d+)x(\d+)$/.exec(unquoted) : null;
      if (size) [out['Size-1'], out['Size-2']] = [size[1]!, size[2]!];
    }
  }
  const negativeAt = lines.findIndex((line) => line.startsWith('Negative prompt:'));
  const promptLines = negativeAt >= 0 ? lines.slice(0, negativeAt) : lines;
  const negativeLines = negativeAt >= 0 ? lines.slice(negativeAt) : [];
  return {
    Prompt: promptLines.join('\n').trim(),
    'Negative prompt': negativeLines.join('\n').replace(/^Negative prompt:\s*/, '').trim(),
    ...out,
  };
}
