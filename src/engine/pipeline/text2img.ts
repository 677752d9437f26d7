/**
 * The Stable Diffusion pipeline: text-to-image, image-to-image and inpainting exactly as diffusers runs them
 * (docs/engine-reference.md §1 maps each stage to its section): encode prompts, per image draw from its own seeded
 * generator (the start latents; for image-to-image the encoded init image noised to the strength's first timestep),
 * denoise (pipeline/denoise.ts: CFG as one batch-2 UNet call [negative, positive] when cfgScale > 1; LCM's guidance
 * embedding instead), decode with the VAE one image at a time.
 */
import { EngineError } from '../errors.ts';
import type { LoadedModel, ModelInfo, ModelManifest } from '../model/types.ts';
import type { ResolvedDevice } from '../runtime/ort.ts';
import { createNoise } from '../noise/index.ts';
import type { HostTensor } from '../runtime/tensor.ts';
import { createScheduler } from '../schedulers/index.ts';
import type { GeneratedImage, GenerateOptions, GenerateResult, StageTimings } from '../types.ts';
import { PromptEncoder, zeroEmbedding, type TextEmbedding } from './conditioning.ts';
import { denoise, throwIfAborted, type StaticConditioning } from './denoise.ts';
import { floatFeed } from './feeds.ts';
import { prepareImageInput, startLatents, type ImageStart, type PreparedImageInput } from './image2image.ts';
import { initialLatents, latentDims } from './latents.ts';
import { lcmGuidanceEmbedding } from './lcm-guidance.ts';
import { Previewer } from './preview.ts';
import { promptSides } from './prompts.ts';
import { decodeLatents, toRgb } from './vae.ts';
import { resolveSeed, validateOptions } from './validate.ts';

export type { StageTimings } from '../types.ts';

export class StableDiffusionPipeline {
  constructor(private readonly model: LoadedModel) {}

  /** The manifest (what inspectModel() reports for the folder) plus the device the sessions run on. */
  get info(): ModelInfo {
    return { ...this.model.manifest, device: this.model.device };
  }

  get manifest(): ModelManifest {
    return this.model.manifest;
  }

  /** 'cpu' or 'cuda:N': where the sessions actually run (after a CUDA fallback, 'cpu'). */
  get device(): ResolvedDevice {
    return this.model.device;
  }

  /** The loaded model (sessions, detected I/O contract); for tests and the bench. */
  get loaded(): LoadedModel {
    return this.model;
  }

  /** Token ids (BOS, EOS and padding included) per tokenizer: one row for SD1/2/LCM, two for SDXL. */
  tokenize(text: string): number[][] {
    return this.model.textEncoders.map((e) => e.tokenizer.encode(text));
  }

  /**
   * Generates `options.images` images: text-to-image, or image-to-image / inpainting with `options.init`.
   * @throws {EngineError} `invalid_argument` for a bad request (before any model work), `cancelled` when the signal
   *   aborts, `model_invalid` / `runtime_error` for a model that misbehaves
   */
  async generate(options: GenerateOptions): Promise<GenerateResult> {
    const manifest = this.model.manifest;
    const plan = validateOptions(options, manifest);
    const timings: StageTimings = { textMs: 0, unetMs: 0, loopOtherMs: 0, vaeMs: 0, previewMs: 0 };
    throwIfAborted(options.signal);
    const previewer = options.preview ? new Previewer(this.model, options.preview) : undefined;
    const baseSeed = resolveSeed(options.seed);

    let start = performance.now();
    const conditioning = await this.conditioning(options);
    timings.textMs = performance.now() - start;

    const dims = latentDims(options.width, options.height, manifest.vaeScaleFactor);
    const count = dims[1] * dims[2] * dims[3];
    let prepared: PreparedImageInput | undefined;
    if (options.init && plan) {
      throwIfAborted(options.signal);
      start = performance.now();
      prepared = await prepareImageInput(this.model, options.init, options.width, options.height, plan);
      timings.vaeMs += performance.now() - start;
    }

    const images: GeneratedImage[] = [];
    for (let i = 0; i < options.images; i++) {
      // Image i uses its own generator seeded with seed + i, so it can be reproduced alone.
      const seed = (baseSeed + i) >>> 0;
      const noise = createNoise('torch', seed);
      start = performance.now();
      const scheduler = createScheduler(options.sampler, this.model.schedulerConfig, options.steps, { strength: plan?.schedulerStrength });
      const begin: ImageStart = prepared
        ? startLatents(prepared, scheduler, noise, this.model.vae.scalingFactor, count)
        : { latents: initialLatents(noise, count, scheduler.initNoiseSigma) };
      timings.loopOtherMs += performance.now() - start;
      const context = { unet: this.model.unet, options, conditioning, image: i, timings, previewer };
      const latents = await denoise(context, { scheduler, beginIndex: plan?.beginIndex ?? 0, noise, dims, ...begin });
      throwIfAborted(options.signal);
      start = performance.now();
      const sample = await decodeLatents(this.model.vae, latents, dims);
      const image: GeneratedImage = { width: options.width, height: options.height, rgb: toRgb(sample, options.width, options.height), seed };
      images.push(image);
      timings.vaeMs += performance.now() - start;
      options.onImage?.(image, i);
    }
    timings.previewMs = previewer?.ms ?? 0;
    return { images, timings };
  }

  private async conditioning(options: GenerateOptions): Promise<StaticConditioning> {
    const { unet } = this.model;
    const sides = promptSides(options.prompts, options.style);
    const encoder = new PromptEncoder(this.model);
    const positive = await encoder.encodeSide(sides.positive);
    // LCM replaces CFG with a guidance embedding; other models skip the negative pass when cfgScale <= 1.
    const cfg = !unet.lcm && options.cfgScale > 1;
    let negative: TextEmbedding | undefined;
    if (cfg) {
      if (sides.negative.length > 0) negative = await encoder.encodeSide(sides.negative);
      else if (this.model.forceZerosForEmptyPrompt) negative = zeroEmbedding(positive);
      else negative = await encoder.encode('');
    }
    const rows = negative ? [negative, positive] : [positive];
    const batch = rows.length;
    const feeds: Record<string, HostTensor> = {
      encoder_hidden_states: floatFeed(concat(rows.map((r) => r.sequence)), [batch, positive.tokens, positive.width], unet.hiddenStatesType),
    };
    if (unet.sdxl) {
      const pooled = rows.map((r) => {
        if (!r.pooled) throw new EngineError('model_invalid', 'The SDXL text encoder 2 returned no text_embeds');
        return r.pooled;
      });
      feeds.text_embeds = floatFeed(concat(pooled), [batch, pooled[0].length], unet.sdxl.textEmbedsType);
      // [orig_h, orig_w, crop_top, crop_left, target_h, target_w] with original = target = requested size.
      const ids = [options.height, options.width, 0, 0, options.height, options.width];
      feeds.time_ids = floatFeed(Float32Array.from(rows.flatMap(() => ids)), [batch, 6], unet.sdxl.timeIdsType);
    }
    if (unet.lcm) {
      const embedding = lcmGuidanceEmbedding(options.cfgScale, unet.lcm.dim);
      feeds.timestep_cond = floatFeed(Float32Array.from(embedding), [1, unet.lcm.dim], unet.lcm.type);
    }
    return { batch, cfg, feeds };
  }

  dispose(): Promise<void> {
    return this.model.dispose();
  }
}

function concat(parts: readonly Float32Array[]): Float32Array {
  if (parts.length === 1) return parts[0];
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
