/** Checks GenerateOptions before any model work; every failure is EngineError('invalid_argument'). */
import { EngineError } from '../errors.ts';
import type { ModelInfo } from '../model/types.ts';
import type { GenerateOptions } from '../types.ts';

const MAX_SEED = 0xffffffff;

function fail(message: string): never {
  throw new EngineError('invalid_argument', message);
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1;
}

export function validateOptions(options: GenerateOptions, info: ModelInfo): void {
  for (const [name, value] of [['width', options.width], ['height', options.height]] as const) {
    if (!isPositiveInteger(value) || value % 8 !== 0) {
      fail(`Cannot generate: ${name} must be a positive multiple of 8, got ${String(value)}`);
    }
  }
  if (!isPositiveInteger(options.steps)) fail(`Cannot generate: steps must be an integer >= 1, got ${String(options.steps)}`);
  if (!isPositiveInteger(options.images)) fail(`Cannot generate: images must be an integer >= 1, got ${String(options.images)}`);
  if (typeof options.cfgScale !== 'number' || !Number.isFinite(options.cfgScale)) {
    fail(`Cannot generate: cfgScale must be a finite number, got ${String(options.cfgScale)}`);
  }
  if (!Number.isInteger(options.seed) || options.seed < 0 || options.seed > MAX_SEED) {
    fail(`Cannot generate: seed must be an integer in 0..${MAX_SEED}, got ${String(options.seed)}`);
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
}
