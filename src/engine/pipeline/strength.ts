/**
 * Image-to-image strength → which part of the schedule runs (docs/engine-reference.md §4.9).
 *
 * Every sampler but LCM follows diffusers' `get_timesteps` (StableDiffusionImg2Img/Inpaint and the SDXL pipelines):
 * build the full N-step schedule, then start at t_start = N − min(int(N × strength), N) (times the scheduler order,
 * 1 for all of ours) via `set_begin_index`; the start latents are the image latents noised to that first timestep.
 * LCM follows LatentConsistencyModelImg2ImgPipeline instead: the strength shortens the origin schedule the N steps are
 * picked from (`LCMScheduler.set_timesteps(N, strength=...)`), so LCM always runs N steps from index 0.
 */
import { EngineError } from '../errors.ts';
import type { ModelManifest } from '../model/types.ts';
import { LCM_DEFAULTS, lcmOriginCount } from '../schedulers/lcm.ts';
import type { SamplerName } from '../schedulers/types.ts';

/** LCMScheduler's default `original_inference_steps` (every published LCM config uses it). */
const LCM_ORIGINAL_STEPS: number = LCM_DEFAULTS.original_inference_steps;

export interface StrengthPlan {
  /** First scheduler index the denoising loop runs (diffusers' t_start × order). */
  beginIndex: number;
  /** Denoising steps, as diffusers counts them (its progress bar total); 0 when the strength leaves none. */
  steps: number;
  /** LCM only: the strength goes into the scheduler (LcmScheduler `strength` option). */
  schedulerStrength?: number;
}

/** int(N × strength), with Python's float product and truncation. */
function initTimestep(steps: number, strength: number): number {
  return Math.min(Math.trunc(steps * strength), steps);
}

/**
 * The start of an image-to-image run for (steps, strength, sampler), without building anything.
 * @param originalInferenceSteps LCM's `original_inference_steps` (default 50)
 */
export function planStrength(steps: number, strength: number, sampler: SamplerName, originalInferenceSteps = LCM_ORIGINAL_STEPS): StrengthPlan {
  if (sampler === 'lcm') {
    const enough = lcmOriginCount(originalInferenceSteps, strength) >= steps && strength > 0;
    return { beginIndex: 0, steps: enough ? steps : 0, schedulerStrength: strength };
  }
  const init = initTimestep(steps, strength);
  return { beginIndex: Math.max(steps - init, 0), steps: init };
}

/**
 * How many denoising steps a request runs: `steps` for text-to-image (no strength), else what the strength leaves
 * (see the module comment). 0 means none: generate() rejects such a request with `invalid_argument`, so a service can
 * reject (and price) it before queuing. PNDM evaluates the UNet once more than it has steps (progress events count
 * evaluations); this counts steps, as diffusers' progress bar does.
 * @param model the manifest (`defaultSampler` when `sampler` is absent; LCM's `originalInferenceSteps`)
 * @throws {EngineError} `invalid_argument` when steps is not an integer >= 1 or strength is not a number in [0, 1]
 * @example denoisingSteps(sd15, { steps: 20, strength: 0.05 }) === 1; denoisingSteps(sd15, { steps: 20, strength: 0.04 }) === 0
 */
export function denoisingSteps(
  model: Pick<ModelManifest, 'defaultSampler' | 'originalInferenceSteps'>,
  request: { steps: number; strength?: number; sampler?: SamplerName },
): number {
  const { steps, strength } = request;
  if (!Number.isInteger(steps) || steps < 1) {
    throw new EngineError('invalid_argument', `Cannot count denoising steps: steps must be an integer >= 1, got ${String(steps)}`);
  }
  if (strength === undefined) return steps;
  checkStrengthRange(strength, 'count denoising steps');
  return planStrength(steps, strength, request.sampler ?? model.defaultSampler, model.originalInferenceSteps).steps;
}

export function checkStrengthRange(strength: unknown, action: string): asserts strength is number {
  if (typeof strength !== 'number' || !Number.isFinite(strength) || strength < 0 || strength > 1) {
    throw new EngineError('invalid_argument', `Cannot ${action}: strength must be a number in [0, 1], got ${String(strength)}`);
  }
}

/**
 * The plan for a request, or the reason it cannot run.
 * @throws {EngineError} `invalid_argument` when the strength leaves no denoising step
 */
export function requireStrengthPlan(
  steps: number,
  strength: number,
  sampler: SamplerName,
  originalInferenceSteps: number | undefined,
  action: string,
): StrengthPlan {
  const plan = planStrength(steps, strength, sampler, originalInferenceSteps);
  if (plan.steps >= 1) return plan;
  if (sampler === 'lcm') {
    const original = originalInferenceSteps ?? LCM_ORIGINAL_STEPS;
    throw new EngineError(
      'invalid_argument',
      `Cannot ${action} with the LCM sampler: int(original_inference_steps × strength) must be at least steps (${steps}) so that LCM has a timestep to pick for each, got int(${original} × ${strength}) = ${lcmOriginCount(original, strength)}`,
    );
  }
  throw new EngineError(
    'invalid_argument',
    `Cannot ${action}: the strength leaves no denoising step (diffusers runs int(steps × strength) of them, at least 1 is needed), got int(${steps} × ${strength}) = ${initTimestep(steps, strength)}`,
  );
}
