/** Checks GenerateOptions before any model work; every failure is EngineError('invalid_argument'). */
import { randomInt } from 'node:crypto';
import { EngineError } from '../errors.ts';
import type { ModelManifest } from '../model/types.ts';
import type { GenerateOptions, InitImage } from '../types.ts';
import { MAX_MASK_BLUR } from './mask.ts';
import { checkStrengthRange, requireStrengthPlan, type StrengthPlan } from './strength.ts';

const MAX_SEED = 0xffffffff;

function fail(message: string): never {
  throw new EngineError('invalid_argument', message);
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1;
}

/**
 * The request's seed, or a random one when it is absent or 0 (the Stability API convention). Drawn in 1..2^32-2,
 * the same range the service uses, so a drawn seed is never 0 and can be passed back to reproduce the image.
 */
export function resolveSeed(seed: number | undefined): number {
  return seed === undefined || seed === 0 ? randomInt(1, MAX_SEED) : seed;
}

/**
 * Checks a request before any model work.
 * @returns the strength plan of an image-to-image / inpainting request (undefined for text-to-image)
 * @throws {EngineError} `invalid_argument` naming the offending field
 */
export function validateOptions(options: GenerateOptions, info: ModelManifest): StrengthPlan | undefined {
  if (info.inpaintUnet && options.init === undefined) {
    fail(`Cannot generate text-to-image with ${info.dir}: its UNet is an inpainting UNet (9 input channels); pass init with a mask`);
  }
  const multiple = info.latentMultiple;
  for (const [name, value] of [['width', options.width], ['height', options.height]] as const) {
    if (!isPositiveInteger(value) || value % multiple !== 0) {
      fail(
        `Cannot generate: ${name} must be a positive multiple of ${multiple} for this model (the VAE scale ${info.vaeScaleFactor} times the UNet's downsampling), got ${String(value)}`,
      );
    }
  }
  if (!isPositiveInteger(options.steps)) fail(`Cannot generate: steps must be an integer >= 1, got ${String(options.steps)}`);
  if (!isPositiveInteger(options.images)) fail(`Cannot generate: images must be an integer >= 1, got ${String(options.images)}`);
  if (typeof options.cfgScale !== 'number' || !Number.isFinite(options.cfgScale)) {
    fail(`Cannot generate: cfgScale must be a finite number, got ${String(options.cfgScale)}`);
  }
  const seed = options.seed;
  if (seed !== undefined && (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED)) {
    fail(`Cannot generate: seed must be an integer in 0..${MAX_SEED} (0 or absent: random), got ${String(seed)}`);
  }
  if (options.sampler !== undefined && !info.samplers.includes(options.sampler)) {
    fail(`Cannot generate: sampler "${String(options.sampler)}" is not available for this model (available: ${info.samplers.join(', ')})`);
  }
  if (!Array.isArray(options.prompts) || options.prompts.length === 0) fail('Cannot generate: at least one prompt is required');
  for (const p of options.prompts) {
    if (typeof p?.text !== 'string') fail('Cannot generate: every prompt needs a text string');
    if (typeof p.weight !== 'number' || !Number.isFinite(p.weight)) {
      fail(`Cannot generate: prompt weight must be a finite number, got ${String(p.weight)}`);
    }
  }
  if (!options.prompts.some((p) => p.weight > 0)) fail('Cannot generate: at least one prompt needs a weight > 0');
  const preview = options.preview;
  if (preview !== undefined) {
    if (typeof preview.intervalMs !== 'number' || !Number.isFinite(preview.intervalMs) || preview.intervalMs < 0) {
      fail(`Cannot generate: preview.intervalMs must be a finite number >= 0, got ${String(preview.intervalMs)}`);
    }
    if (typeof preview.onPreview !== 'function') fail('Cannot generate: preview.onPreview must be a function');
  }
  if (options.init === undefined) return undefined;
  return validateInit(options.init, options, info);
}

function isBytes(value: unknown, length: number): boolean {
  return value instanceof Uint8Array && value.length === length;
}

function validateInit(init: InitImage, options: GenerateOptions, info: ModelManifest): StrengthPlan {
  if (init === null || typeof init !== 'object') fail(`Cannot generate: init must be an object with image and strength, got ${String(init)}`);
  const inpaint = init.mask !== undefined;
  const action = inpaint ? 'inpaint' : 'generate image-to-image';
  const { image, mask } = init;
  if (image === null || typeof image !== 'object') fail(`Cannot ${action}: init.image must be { width, height, rgb }, got ${String(image)}`);
  if (!isPositiveInteger(image.width) || !isPositiveInteger(image.height)) {
    fail(`Cannot ${action}: init.image width and height must be integers >= 1, got ${String(image.width)}×${String(image.height)}`);
  }
  if (!isBytes(image.rgb, image.width * image.height * 3)) {
    const got = image.rgb instanceof Uint8Array ? `${image.rgb.length} bytes` : typeof image.rgb;
    fail(`Cannot ${action}: init.image.rgb must be a Uint8Array of width × height × 3 = ${image.width * image.height * 3} bytes (8-bit RGB), got ${got}`);
  }
  checkStrengthRange(init.strength, action);
  if (mask !== undefined) {
    if (mask === null || typeof mask !== 'object') fail(`Cannot inpaint: init.mask must be { width, height, data }, got ${String(mask)}`);
    if (mask.width !== image.width || mask.height !== image.height) {
      fail(`Cannot inpaint: init.mask must have the init image's size ${image.width}×${image.height}, got ${String(mask.width)}×${String(mask.height)}`);
    }
    if (!isBytes(mask.data, mask.width * mask.height)) {
      const got = mask.data instanceof Uint8Array ? `${mask.data.length} bytes` : typeof mask.data;
      fail(`Cannot inpaint: init.mask.data must be a Uint8Array of width × height = ${mask.width * mask.height} bytes (one 8-bit value per pixel), got ${got}`);
    }
  }
  const blur = init.maskBlur;
  if (blur !== undefined && (typeof blur !== 'number' || !Number.isFinite(blur) || blur < 0 || blur > MAX_MASK_BLUR)) {
    fail(`Cannot ${action}: init.maskBlur must be a number of pixels in [0, ${MAX_MASK_BLUR}], got ${String(blur)}`);
  }
  if (info.inpaintUnet && !inpaint) {
    fail(`Cannot generate image-to-image with ${info.dir}: its UNet is an inpainting UNet (9 input channels), which needs init.mask`);
  }
  if (!info.vaeEncoder) {
    fail(`Cannot ${action} with ${info.dir}: the model has no VAE encoder (vae_encoder/model.onnx), which ${inpaint ? 'inpainting' : 'image-to-image'} needs to encode the init image`);
  }
  return requireStrengthPlan(options.steps, init.strength, options.sampler ?? info.defaultSampler, info.originalInferenceSteps, action);
}
