/**
 * The denoising loop shared by text-to-image, image-to-image and inpainting (docs/engine-reference.md §1, §4.9, §5.5):
 * per step scale the input, one UNet call (batch 2 [negative, positive] with CFG), guidance, scheduler step; progress,
 * previews and cancellation between steps. Image-to-image starts at a begin index into the schedule; inpainting adds
 * the mask and masked-image latents to the UNet input (9-channel UNets) or blends the known region back after every
 * step (4-channel UNets).
 */
import { EngineError } from '../errors.ts';
import type { UnetModel } from '../model/types.ts';
import type { NoiseSource } from '../noise/types.ts';
import type { HostTensor } from '../runtime/tensor.ts';
import type { Scheduler } from '../schedulers/types.ts';
import type { GenerateOptions, StageTimings } from '../types.ts';
import { floatFeed, outputFloat32, timestepFeed } from './feeds.ts';
import { applyCfg } from './guidance.ts';
import { LATENT_CHANNELS } from './latents.ts';
import type { Previewer } from './preview.ts';

/** The UNet inputs that stay the same for every step of every image of one request. */
export interface StaticConditioning {
  batch: number;
  cfg: boolean;
  feeds: Record<string, HostTensor>;
}

/** What one image's denoising needs besides the request. */
export interface DenoiseRun {
  scheduler: Scheduler;
  /** First scheduler index to run: 0 for text-to-image, t_start for image-to-image (diffusers' set_begin_index). */
  beginIndex: number;
  /** The start latents [1, 4, h, w] (pure noise × init_noise_sigma, or the noised image latents). */
  latents: Float32Array;
  /** The image's generator: ancestral samplers keep drawing from it. */
  noise: NoiseSource;
  /** [1, 4, h, w] */
  dims: readonly number[];
  /**
   * 9-channel inpainting UNet: the latent mask [1, 1, h, w] and the masked-image latents [1, 4, h, w], appended after
   * the scaled latents of every batch row (diffusers' torch.cat([latents, mask, masked_image_latents], dim=1)).
   */
  inpaintChannels?: { mask: Float32Array; maskedLatents: Float32Array };
  /**
   * 4-channel inpainting: after each step latents = (1 − mask)·proper + mask·latents, where proper is `imageLatents`
   * noised with `noise` to the next timestep (the image latents themselves after the last step).
   */
  blend?: { mask: Float32Array; imageLatents: Float32Array; noise: Float32Array };
}

export interface DenoiseContext {
  unet: Pick<UnetModel, 'session' | 'sampleType' | 'timestep'>;
  options: Pick<GenerateOptions, 'cfgScale' | 'images' | 'signal' | 'onProgress'>;
  conditioning: StaticConditioning;
  /** 0-based index of the image within the request (for progress and previews). */
  image: number;
  timings: StageTimings;
  previewer?: Previewer;
}

/** Runs the loop and returns the final latents (what the VAE decodes). */
export async function denoise(ctx: DenoiseContext, run: DenoiseRun): Promise<Float32Array> {
  const { unet, options, conditioning, image, timings, previewer } = ctx;
  const { scheduler, beginIndex, noise, dims, inpaintChannels, blend } = run;
  const loopStart = performance.now();
  let unetMs = 0;
  const previewMsBefore = previewer?.ms ?? 0;
  const plane = dims[2] * dims[3];
  const count = LATENT_CHANNELS * plane;
  let latents = run.latents;

  const { batch, cfg } = conditioning;
  // 9-channel UNets take [latents 4, mask 1, masked-image latents 4] per row; the output keeps 4 channels.
  const rowChannels = inpaintChannels ? 2 * LATENT_CHANNELS + 1 : LATENT_CHANNELS;
  const rowSize = rowChannels * plane;
  const sampleDims = [batch, rowChannels, dims[2], dims[3]];
  // Reused across steps: the batch input buffer (latents duplicated for CFG, static channels written once) and feeds.
  const sampleBuffer = new Float32Array(batch * rowSize);
  if (inpaintChannels) {
    for (let b = 0; b < batch; b++) {
      sampleBuffer.set(inpaintChannels.mask, b * rowSize + count);
      sampleBuffer.set(inpaintChannels.maskedLatents, b * rowSize + count + plane);
    }
  }
  const feeds: Record<string, HostTensor> = { ...conditioning.feeds };
  const timesteps = scheduler.timesteps;
  const steps = timesteps.length - beginIndex;

  for (let index = beginIndex; index < timesteps.length; index++) {
    throwIfAborted(options.signal);
    const input = scheduler.scaleModelInput(latents, index);
    for (let b = 0; b < batch; b++) sampleBuffer.set(input, b * rowSize);
    feeds.sample = floatFeed(sampleBuffer, sampleDims, unet.sampleType);
    feeds.timestep = timestepFeed(timesteps[index], unet.timestep);

    const unetStart = performance.now();
    const outputs = await unet.session.run(feeds, ['out_sample']);
    unetMs += performance.now() - unetStart;
    const prediction = outputFloat32(outputs, 'out_sample', 'unet/model.onnx');
    if (prediction.length !== batch * count) {
      throw new EngineError('model_invalid', `unet/model.onnx returned ${prediction.length} values, expected ${batch * count}`);
    }
    // A fresh array per step: multistep schedulers (PNDM, DPM++) keep earlier outputs.
    const guided = cfg ? applyCfg(prediction, options.cfgScale, new Float32Array(count)) : prediction;
    const result = scheduler.step(guided, index, latents, noise);
    latents = result.prevSample;
    if (blend) {
      // The known region at the noise level of the next timestep (the image latents themselves after the last step).
      const proper = index + 1 < timesteps.length ? scheduler.addNoise(blend.imageLatents, blend.noise, index + 1) : blend.imageLatents;
      latents = blendKnown(latents, blend.mask, proper, plane);
    }
    const step = index - beginIndex + 1;
    options.onProgress?.({ image, images: options.images, step, steps });
    // The x0 prediction shows the picture long before the noisy latents do (what A1111/ComfyUI preview).
    if (previewer?.due()) await previewer.emit(result.denoised ?? latents, dims, { image, step, steps });
  }
  timings.unetMs += unetMs;
  timings.loopOtherMs += performance.now() - loopStart - unetMs - ((previewer?.ms ?? 0) - previewMsBefore);
  // LCM's last step returns its denoised prediction as prevSample, so the latents are what diffusers' LCM pipelines
  // decode there too.
  return latents;
}

/** (1 − m)·proper + m·latents with the latent mask broadcast over the channels, float32 op by op as torch. */
function blendKnown(latents: Float32Array, mask: Float32Array, proper: Float32Array, plane: number): Float32Array {
  const f32 = Math.fround;
  const out = new Float32Array(latents.length);
  for (let i = 0; i < latents.length; i++) {
    const m = mask[i % plane];
    out[i] = f32(f32(1 - m) * proper[i]) + f32(m * latents[i]);
  }
  return out;
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new EngineError('cancelled', 'Generation cancelled');
}
