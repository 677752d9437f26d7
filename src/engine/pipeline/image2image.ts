/**
 * Image-to-image and inpainting inputs as diffusers' StableDiffusionImg2ImgPipeline, StableDiffusionInpaintPipeline
 * (and their SDXL and LCM counterparts) prepare them (docs/engine-reference.md §4.9, §5.5, §6.4–§6.6, §7.6).
 *
 * Per request (prepareImageInput): resize the init image and mask to the generation size, run the VAE encoder once on
 * the image (and, for 9-channel UNets, on the masked image). Per image (startLatents): sample the encoder output with
 * the image's generator and noise the latents to the first timestep, drawing in diffusers' order.
 */
import type { LoadedModel } from '../model/types.ts';
import type { NoiseSource } from '../noise/types.ts';
import type { Scheduler } from '../schedulers/types.ts';
import type { InitImage } from '../types.ts';
import type { DenoiseRun } from './denoise.ts';
import { prepareMask } from './mask.ts';
import { resizeLanczos } from './resize.ts';
import type { StrengthPlan } from './strength.ts';
import { encodeImage, maskSample, rgbToSample, sampleLatents, skipLatentDraw, type EncodedImage } from './vae-encode.ts';

/** How a mask is used: none (image-to-image), the 4-channel blend, or the 9-channel inpainting UNet. */
export type InpaintMode = 'none' | 'blend' | 'unet';

/** One request's image inputs, shared by all its images. */
export interface PreparedImageInput {
  mode: InpaintMode;
  strength: number;
  plan: StrengthPlan;
  /** The encoded init image; absent for a 9-channel UNet at strength 1 (diffusers starts from pure noise and never encodes it). */
  image?: EncodedImage;
  /** The encoder's output convention (decides which steps draw from the generator). */
  convention: EncodedImage['convention'];
  /** Inpainting: the binary latent mask [h, w]. */
  latentMask?: Float32Array;
  /** 9-channel inpainting: the encoded masked image. */
  maskedImage?: EncodedImage;
}

/** The resized init image planes [3, H, W] in [−1, 1]: what the encoder receives. */
export function initSample(init: InitImage, width: number, height: number): Float32Array {
  const { image } = init;
  return rgbToSample(resizeLanczos(image.rgb, image.width, image.height, 3, width, height), width, height);
}

/**
 * Resizes, masks and encodes a request's init image (the VAE encoder runs once per request; its latent_parameters are
 * sampled per image, so images still differ only by their seeds).
 */
export async function prepareImageInput(
  model: Pick<LoadedModel, 'loadVaeEncoder' | 'manifest'>,
  init: InitImage,
  width: number,
  height: number,
  plan: StrengthPlan,
): Promise<PreparedImageInput> {
  const { manifest } = model;
  const encoder = await model.loadVaeEncoder();
  const mode: InpaintMode = !init.mask ? 'none' : manifest.inpaintUnet ? 'unet' : 'blend';
  const sample = initSample(init, width, height);
  const strengthMax = init.strength === 1;
  const encode = (planes: Float32Array): Promise<EncodedImage> => encodeImage(encoder, planes, width, height, manifest.vaeScaleFactor);
  const prepared: PreparedImageInput = { mode, strength: init.strength, plan, convention: encoder.output };
  if (mode !== 'unet' || !strengthMax) prepared.image = await encode(sample);
  if (init.mask) {
    const mask = prepareMask(init.mask, width, height, manifest.vaeScaleFactor, init.maskBlur ?? 0);
    prepared.latentMask = mask.latents;
    if (mode === 'unet') prepared.maskedImage = await encode(maskSample(sample, mask.pixels));
  }
  return prepared;
}

/** The start of one image's denoising, drawn from its generator in diffusers' order. */
export type ImageStart = Pick<DenoiseRun, 'latents' | 'inpaintChannels' | 'blend'>;

/**
 * One image's start latents, with `noise` (the image's generator) drawn as diffusers does with one generator:
 * 1. the init image's latent sample (latent_parameters only; skipped by 9-channel inpainting at strength 1),
 * 2. the noise [1, 4, h, w] (`count` values),
 * 3. inpainting: the masked image's latent sample (latent_parameters only; diffusers encodes it for 4-channel UNets
 *    too, so the draw happens even though the blend does not use it).
 * Start latents: image-to-image adds the noise at the begin index (add_noise); inpainting at strength 1 starts from
 * the noise × init_noise_sigma instead, as diffusers' inpaint pipelines do.
 */
export function startLatents(
  input: PreparedImageInput,
  scheduler: Scheduler,
  noise: NoiseSource,
  scalingFactor: number,
  count: number,
): ImageStart {
  const imageLatents = input.image ? sampleLatents(input.image, noise, scalingFactor) : undefined;
  const eps = noise.randn(count);
  let latents: Float32Array;
  if (input.mode !== 'none' && input.strength === 1) {
    const sigma = Math.fround(scheduler.initNoiseSigma);
    latents = sigma === 1 ? eps : eps.map((v) => Math.fround(v * sigma));
  } else {
    latents = scheduler.addNoise(imageLatents as Float32Array, eps, input.plan.beginIndex);
  }
  if (input.mode === 'none') return { latents };
  const mask = input.latentMask as Float32Array;
  if (input.mode === 'unet') {
    const maskedLatents = sampleLatents(input.maskedImage as EncodedImage, noise, scalingFactor);
    return { latents, inpaintChannels: { mask, maskedLatents } };
  }
  skipLatentDraw({ convention: input.convention }, count, noise);
  return { latents, blend: { mask, imageLatents: imageLatents as Float32Array, noise: eps } };
}
