/**
 * The one mapping from a GenerationRequest to what the engine runs: the size the engine generates (see
 * sizing.ts), the seed resolved when the request was accepted, and the engine's defaults for what the caller
 * left out. Field names change here and only here (cfg_scale → cfgScale, style null → absent).
 */
import { SAMPLER_NAMES, type SamplerName } from '../../engine/index.ts';
import type { GenerationRequest } from '../../domain/generation-request.ts';
import type { GenerateRequest } from './image-generator.ts';
import type { SizePlan } from './sizing.ts';

export interface EngineRunPlan {
  size: SizePlan;
  /** Image i uses seed + i. */
  seed: number;
  /** The engine's cfg scale when the request has none. */
  cfgDefault: number;
}

export function toEngineOptions(request: GenerationRequest, plan: EngineRunPlan): GenerateRequest {
  const options: GenerateRequest = {
    prompts: request.prompts.map((p) => ({ text: p.text, weight: p.weight })),
    width: plan.size.width,
    height: plan.size.height,
    steps: request.steps,
    cfgScale: request.cfg_scale ?? plan.cfgDefault,
    seed: plan.seed,
    images: request.images,
  };
  if (request.sampler !== undefined) options.sampler = samplerName(request.sampler);
  if (request.style !== null) options.style = request.style;
  return options;
}

/** Requests carry sampler names checked against the model's list when accepted; anything else is a stale job. */
function samplerName(name: string): SamplerName {
  const known = SAMPLER_NAMES.find((s) => s === name);
  if (!known) throw new Error(`Cannot run the request: the engine has no sampler "${name}"`);
  return known;
}
