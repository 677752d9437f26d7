/**
 * The scheduler contract shared by every sampler (diffusers' SchedulerMixin, reduced to what a
 * denoising loop needs). Schedulers work on flat Float32Array latents and keep their own state
 * (step index, multistep history), so one instance serves exactly one generation.
 */
import type { NoiseSource } from '../noise/types.ts';

export type PredictionType = 'epsilon' | 'v_prediction' | 'sample';
export type TimestepSpacing = 'linspace' | 'leading' | 'trailing';

/**
 * The keys of diffusers' scheduler_config.json that we honour; missing keys take the class default
 * (docs/engine-reference.md §4.8).
 */
export interface SchedulerConfig {
  _class_name?: string;
  num_train_timesteps?: number;
  beta_start?: number;
  beta_end?: number;
  beta_schedule?: 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
  prediction_type?: PredictionType;
  timestep_spacing?: TimestepSpacing;
  steps_offset?: number;
  set_alpha_to_one?: boolean;
  use_karras_sigmas?: boolean;
  original_inference_steps?: number;
  timestep_scaling?: number;
  [key: string]: unknown;
}

export interface Scheduler {
  /** Timesteps fed to the UNet, one per model evaluation (PNDM repeats one). */
  readonly timesteps: readonly number[];
  /** Multiplier for the initial N(0,1) latents. */
  readonly initNoiseSigma: number;
  /** σ for each timestep plus the final σ (length timesteps.length + 1); only σ-based samplers (Euler, DPM++, LMS) have it. */
  readonly sigmas?: Float32Array;
  /** Scales the UNet input for step `index` (identity for DDIM/DPM++/LCM). Returns a new array or the input. */
  scaleModelInput(sample: Float32Array, index: number): Float32Array;
  /**
   * Advances one step. `modelOutput` is the guided UNet output for timestep `timesteps[index]`.
   * Calls must use consecutive indices (the first call may start anywhere, e.g. for img2img).
   * Ancestral samplers draw fresh noise from `noise` (same generator as the initial latents, in call order).
   * Returns the new latents and, where the sampler computes one, the x0 (denoised) prediction of this step:
   * diffusers' `pred_original_sample` (Euler, Euler a, LMS, DDIM, PNDM, DPM++'s data prediction) or LCM's
   * `denoised` (which the pipeline decodes for LCM; for the others it only feeds previews).
   */
  step(modelOutput: Float32Array, index: number, sample: Float32Array, noise: NoiseSource): StepResult;
  /**
   * diffusers' `add_noise`: `original` noised to the level of `timesteps[index]` (image-to-image start latents, and
   * the known region of 4-channel inpainting). σ samplers add n·σ_index; the others scale by √ᾱ and √(1 − ᾱ) (or
   * DPM-Solver's α_t, σ_t). Returns a new array (docs/engine-reference.md §4.9).
   */
  addNoise(original: Float32Array, noise: Float32Array, index: number): Float32Array;
}

export interface StepResult {
  prevSample: Float32Array;
  denoised?: Float32Array;
}

export const SAMPLER_NAMES = ['euler', 'euler_a', 'ddim', 'dpmpp_2m', 'dpmpp_2m_karras', 'lcm', 'pndm', 'lms'] as const;
export type SamplerName = (typeof SAMPLER_NAMES)[number];
