/**
 * The one mapping from a GenerationRequest to what the engine runs: the size the engine generates (the engine's
 * planSize()), the seed resolved when the request was accepted, and the engine's defaults for what the caller left
 * out. Field names change here and only here (cfg_scale → cfgScale, style null → absent).
 */
import { SAMPLER_NAMES, type InitImage, type SamplerName, type SizePlan } from '../../engine/index.ts';
import type { GenerationRequest } from '../../domain/generation-request.ts';
import type { Engine } from './engine-catalog.ts';
import type { GenerateRequest } from './image-generator.ts';

export interface EngineRunPlan {
  size: SizePlan;
  /** Image i uses seed + i. */
  seed: number;
  /** The request's init image (and mask), read from storage by the producer. */
  init?: InitImage;
}

export function toEngineOptions(request: GenerationRequest, engine: Pick<Engine, 'cfg' | 'defaultSampler'>, plan: EngineRunPlan): GenerateRequest {
  const options: GenerateRequest = {
    prompts: request.prompts.map((p) => ({ text: p.text, weight: p.weight })),
    width: plan.size.width,
    height: plan.size.height,
    steps: request.steps,
    cfgScale: request.cfg_scale ?? engine.cfg.default,
    // The engine's default is passed explicitly: a registry may pick another than the model's scheduler config.
    sampler: request.sampler === undefined ? engine.defaultSampler : samplerName(request.sampler),
    seed: plan.seed,
    images: request.images,
  };
  if (request.style !== null) options.style = request.style;
  if (plan.init) options.init = plan.init;
  return options;
}

/** Requests carry sampler names checked against the engine's list when accepted; anything else is a stale job. */
function samplerName(name: string): SamplerName {
  const known = SAMPLER_NAMES.find((s) => s === name);
  if (!known) throw new Error(`Cannot run the request: the engine has no sampler "${name}"`);
  return known;
}
