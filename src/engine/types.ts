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
  /**
   * Each image as soon as it is decoded (`index`: its place in the request), before the next one starts; the same
   * images are returned at the end. A caller that cancels mid-request keeps the ones it already received.
   */
  onImage?: (image: GeneratedImage, index: number) => void;
  /** Live previews of the image being denoised (see PreviewRequest). */
  preview?: PreviewRequest;
  /**
   * Image-to-image, or inpainting with `mask` (docs/models.md "Image-to-image and inpainting"). Needs a model with
   * vae_encoder/model.onnx. Through EngineThread the image and mask buffers are transferred to the worker.
   */
  init?: InitImage;
}

/** An 8-bit RGB image, row-major HWC (`rgb.length` = width × height × 3). */
export interface RgbImage {
  width: number;
  height: number;
  rgb: Uint8Array;
}

/** A single-channel 8-bit mask, row-major: 255 = repaint, 0 = keep (values are binarised at 50 %). */
export interface MaskImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export interface InitImage {
  /** Any size: stretched to the request's width × height with Pillow's Lanczos filter, as diffusers does. */
  image: RgbImage;
  /**
   * diffusers' strength in [0, 1]: how much of the schedule runs (int(steps × strength) steps, starting from the image
   * noised to that level). Stability's `image_strength` is 1 − strength.
   */
  strength: number;
  /** Inpainting: same size as `image`. 4-channel UNets blend the known region back in every step, 9-channel ones condition on it. */
  mask?: MaskImage;
  /**
   * Gaussian σ in pixels (A1111's mask_blur, diffusers' blur_factor) applied to the mask before it is binarised;
   * default 0, at most 64; ignored without a mask.
   */
  maskBlur?: number;
}

/**
 * Asks for previews while denoising: at most one per `intervalMs` for the whole request (the first once
 * `intervalMs` has passed; 0 means after every step). Each is made from the scheduler's current x0 prediction where
 * it has one (else the latents), with vae_approx/model.onnx when the folder has it, else a linear latent → RGB
 * projection. Previews are small (the latent grid, at most 256 px on the long side), never upscaled.
 */
export interface PreviewRequest {
  intervalMs: number;
  onPreview(preview: PreviewImage): void;
}

export interface PreviewImage {
  /** 0-based index of the image within the request. */
  image: number;
  /** 1-based number of completed denoising steps (as in GenerationProgress). */
  step: number;
  steps: number;
  width: number;
  height: number;
  /** 8-bit RGB, row-major HWC, length width*height*3 (its own buffer, so it can be transferred). */
  rgb: Uint8Array;
}

/** Wall time per stage of one generate() call. */
export interface StageTimings {
  textMs: number;
  unetMs: number;
  /** Everything in the denoising loop that is not the UNet or previews: scheduler, guidance, copies. */
  loopOtherMs: number;
  /** VAE decoding; with an init image also its resize, mask preparation and encoding. */
  vaeMs: number;
  /** Making previews (0 without a preview request). */
  previewMs: number;
}

export interface GenerateResult {
  images: GeneratedImage[];
  timings: StageTimings;
}

export interface GeneratedImage {
  width: number;
  height: number;
  /** 8-bit RGB, row-major HWC, length width*height*3. */
  rgb: Uint8Array;
  /** The seed this image was generated with (the drawn one when the request's seed was absent or 0). */
  seed: number;
}
