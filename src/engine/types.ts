/** Public request/response types of the engine library. The engine imports nothing from the service. */
import type { SamplerName } from './schedulers/types.ts';

export type { SamplerName } from './schedulers/types.ts';

/** A prompt as the API gives it: weight > 0 is positive, weight < 0 is negative. */
export interface WeightedPrompt {
  text: string;
  weight: number;
}

export interface GenerationProgress {
  /** 0-based index of the image within the request. */
  image: number;
  images: number;
  /** 1-based number of completed denoising steps for this image. */
  step: number;
  steps: number;
}

export interface GenerateOptions {
  prompts: WeightedPrompt[];
  width: number;
  height: number;
  steps: number;
  /** Classifier-free guidance scale; <= 1 skips the negative pass (Turbo/LCM). */
  cfgScale: number;
  /** Defaults to the model's scheduler_config.json. */
  sampler?: SamplerName;
  /**
   * uint32; image i uses seed + i (wrapping at 2^32). Absent or 0 means random: the engine draws a seed in
   * 1..2^32-2 and reports it in GeneratedImage.seed.
   */
  seed?: number;
  images: number;
  /** One of the 17 Stability style presets. */
  style?: string;
  signal?: AbortSignal;
  onProgress?: (progress: GenerationProgress) => void;
}

export interface GeneratedImage {
  width: number;
  height: number;
  /** 8-bit RGB, row-major HWC, length width*height*3. */
  rgb: Uint8Array;
  /** The seed this image was generated with (the drawn one when the request's seed was absent or 0). */
  seed: number;
}
