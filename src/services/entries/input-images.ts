/**
 * The images a request starts from (init_image, mask_image), from what a client sends to what the worker reads.
 *
 * A field holds a `data:` URL, plain base64 (multipart files arrive as data: URLs), or the url or guid of an image of
 * the caller's own account: a generated image (the `images` table) or an earlier request's input (`input_images`).
 * Storage keys carry no owner, so a reference is looked up among the caller's rows; another account's image is
 * "not found", exactly like a missing one. Every image is decoded here with sharp (PNG, JPEG or WebP, at most
 * INPUT_IMAGE_BYTES_MAX bytes and INPUT_IMAGE_SIDE_MAX px a side, fully decoded so a truncated file is caught) and
 * re-encoded as a PNG: the request's own copy, which the worker reads and the request entry's url points at.
 */
import { INPUT_IMAGE_BYTES_MAX, INPUT_IMAGE_SIDE_MAX } from '../../domain/generation-request.ts';
import { isUuid } from '../../domain/ids.ts';
import type { FileStorage } from '../../storage/file-storage.ts';
import type { Repositories } from '../../store/repositories/repositories.ts';
import { loadSharp } from '../generation/image-encoder.ts';

/** A decoded input image, re-encoded as PNG (RGB, or RGBA when the source had alpha; masks keep gray). */
export interface DecodedInput {
  width: number;
  height: number;
  hasAlpha: boolean;
  png: Buffer;
}

/** Why a field's image cannot be used: the message for its 422. */
export class InputImageError extends Error {}

const FORMATS = new Set(['png', 'jpeg', 'webp']);
const DATA_URL = /^data:([\w.+-]+\/[\w.+-]+)?((?:;[\w.+-]+=[\w.+-]+)*);base64,/i;
/** Applied to text without whitespace: the classes do not overlap, so a hostile string cannot make it backtrack. */
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
/** `<folder>/<uuid>.png` at the end of a url, path or key. */
const KEY_AT_END = /(?:^|\/)([a-z0-9_]{1,100})\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.png$/;
export const INPUT_FOLDER = 'inputs';

/** The bytes of an image field's text: inline data is decoded, a reference is looked up among the user's images. */
export async function loadInputBytes(text: string, userId: string, deps: { repos: Repositories; storage: FileStorage }): Promise<Buffer> {
  const trimmed = text.trim();
  if (trimmed === '') throw new InputImageError('The image is empty.');
  const dataUrl = DATA_URL.exec(trimmed);
  if (dataUrl) return base64Bytes(trimmed.slice(dataUrl[0].length));
  const key = await ownedKey(trimmed, userId, deps.repos);
  if (key !== undefined) {
    try {
      return await deps.storage.read(key);
    } catch {
      throw new InputImageError('The image was not found in your account.');
    }
  }
  if (looksLikeReference(trimmed)) throw new InputImageError('The image was not found in your account.');
  if (isBase64(trimmed)) return base64Bytes(trimmed);
  throw new InputImageError('The image must be a file, a data: URL, base64, or the url or guid of an image of your account.');
}

/**
 * Whether the text is base64 (line breaks and spaces allowed). Linear in the text: a pattern that allows whitespace
 * both inside and after the padding backtracks quadratically (80 kB of spaces took 6.5 s of the event loop).
 */
export function isBase64(text: string): boolean {
  return BASE64.test(text.replace(/\s+/g, ''));
}

function looksLikeReference(text: string): boolean {
  return isUuid(text) || /^(https?:\/\/|\/)/i.test(text) || KEY_AT_END.test(text);
}

function base64Bytes(text: string): Buffer {
  const clean = text.replace(/\s+/g, '');
  if (!BASE64.test(clean) || clean.length % 4 === 1) throw new InputImageError('The image is not valid base64.');
  const bytes = Buffer.from(clean, 'base64');
  if (bytes.length === 0) throw new InputImageError('The image is empty.');
  if (bytes.length > INPUT_IMAGE_BYTES_MAX) throw new InputImageError(`The image may not be larger than ${INPUT_IMAGE_BYTES_MAX / 1024 / 1024} MB.`);
  return bytes;
}

/** The storage key of the user's image that `text` (a url, path, key or guid) names; undefined when none of theirs. */
async function ownedKey(text: string, userId: string, repos: Repositories): Promise<string | undefined> {
  const guid = isUuid(text) ? text.toLowerCase() : undefined;
  const match = guid ? undefined : KEY_AT_END.exec(text.split(/[?#]/)[0]);
  if (!guid && !match) return undefined;
  const id = guid ?? match?.[2] ?? '';
  if (!match || match[1] === INPUT_FOLDER) {
    const input = await repos.inputImages.find(userId, id);
    if (input) return input.key;
  }
  if (match && match[1] === INPUT_FOLDER) return undefined;
  const url = await repos.images.findUrlEnding(userId, match ? `/storage/${match[1]}/${id}.png` : `/${id}.png`);
  if (url === undefined) return undefined;
  return url.slice(url.lastIndexOf('/storage/') + '/storage/'.length);
}

/**
 * Decodes and checks an image and re-encodes it as PNG.
 * @throws {InputImageError} not PNG/JPEG/WebP, unreadable or truncated, 0 px, or larger than INPUT_IMAGE_SIDE_MAX a side
 */
export async function decodeInputImage(bytes: Buffer, options: { keepAlpha: boolean }): Promise<DecodedInput> {
  if (bytes.length > INPUT_IMAGE_BYTES_MAX) throw new InputImageError(`The image may not be larger than ${INPUT_IMAGE_BYTES_MAX / 1024 / 1024} MB.`);
  const sharp = await loadSharp();
  // The header is read first: a claimed 20000×20000 is refused before a pixel is decoded.
  const open = () => sharp(bytes, { limitInputPixels: INPUT_IMAGE_SIDE_MAX * INPUT_IMAGE_SIDE_MAX, failOn: 'error', pages: 1 });
  let meta;
  try {
    meta = await open().metadata();
  } catch {
    throw new InputImageError('The image could not be read: send a PNG, JPEG or WebP file.');
  }
  if (!meta.format || !FORMATS.has(meta.format)) throw new InputImageError(`The image must be a PNG, JPEG or WebP file, got ${meta.format ?? 'an unknown format'}.`);
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  if (width < 1 || height < 1) throw new InputImageError('The image has no pixels.');
  if (width > INPUT_IMAGE_SIDE_MAX || height > INPUT_IMAGE_SIDE_MAX) {
    throw new InputImageError(`The image may not be larger than ${INPUT_IMAGE_SIDE_MAX} pixels a side, got ${width}x${height}.`);
  }
  const hasAlpha = options.keepAlpha && meta.hasAlpha === true;
  try {
    // The whole image is decoded (a truncated file fails here), in sRGB with or without its alpha.
    let pipeline = open().toColourspace('srgb');
    pipeline = hasAlpha ? pipeline.ensureAlpha() : pipeline.removeAlpha();
    const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
    const channels = info.channels;
    const png = await sharp(data, { raw: { width: info.width, height: info.height, channels } }).png({ compressionLevel: 1 }).toBuffer();
    return { width: info.width, height: info.height, hasAlpha, png };
  } catch {
    throw new InputImageError('The image could not be decoded: the file is damaged or truncated.');
  }
}
