/** Checks GenerateOptions before any model work; every failure is EngineError('invalid_argument'). */
import { randomInt } from 'node:crypto';
import { EngineError } from '../errors.ts';
import type { ModelManifest } from '../model/types.ts';
import type { GenerateOptions } from '../types.ts';

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

export function validateOptions(options: GenerateOptions, info: ModelManifest): void {
  if (info.inpaintUnet) {
    fail(`Cannot generate text-to-image with ${info.dir}: its UNet is an inpainting UNet (9 input channels)`);
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
}
