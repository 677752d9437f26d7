/**
 * Turns a request into delivered files: engine (in its worker thread) → images → PNG with an A1111 `parameters`
 * chunk (+ upscaling to the requested size) and a JPEG thumbnail → storage. File names derive from the job id,
 * so a re-run after a crash overwrites instead of leaving orphans. Knows nothing about entries or credits.
 */
import { createHash } from 'node:crypto';
import { maskFromAlpha, maskFromImage, planSize, resizeLanczos, type InitImage, type MaskImage } from '../../engine/index.ts';
import type { ImageItem } from '../../domain/entry.ts';
import { diffusersStrength, hiresSize, parseResolution, type GenerationRequest, type MaskSource } from '../../domain/generation-request.ts';
import { IMMUTABLE_CACHE_CONTROL, type FileStorage } from '../../storage/file-storage.ts';
import type { FileJanitor } from '../files/file-janitor.ts';
import { modelTarget, type Engine, type EngineCatalog } from './engine-catalog.ts';
import { toEngineOptions } from './engine-options.ts';
import type { GeneratedImage, GenerateControl, GenerateRequest, GenerationProgress, ImageGenerator } from './image-generator.ts';
import { decodePng, encodeImage, resizeRgb } from './image-encoder.ts';
import { parametersText } from './png-text.ts';

export interface ImageProducerDeps {
  generator: ImageGenerator;
  engines: EngineCatalog;
  storage: FileStorage;
  /** Absolute base of image URLs, without the trailing slash. */
  publicUrl: string;
  /** Deletes the files of a failed or lost job (kept for a retry when the storage is away). */
  janitor: FileJanitor;
}

/** What to produce: the request, the engine that runs it, its resolved seed, and where its files go. */
export interface ProductionOrder {
  /** Names the files (stable across re-runs of one job). */
  jobId: string;
  aiVersionCode: string;
  request: GenerationRequest;
  /** The canonical engine id (the request may name an alias). */
  engine: string;
  seed: number;
  /** Image-to-image and inpainting: storage keys of the request's init image and mask image. */
  inputs?: { init: string; mask?: string };
}

export interface Produced {
  items: ImageItem[];
  /** Storage keys of every file written (images and thumbnails). */
  files: string[];
  /** The generation was stopped early (a cancel) and `items` are the images finished before it. */
  partial: boolean;
}

/** How a production is steered and observed. */
export interface ProductionControl {
  signal: AbortSignal;
  onProgress?: (progress: GenerationProgress) => void;
  preview?: GenerateControl['preview'];
  /**
   * Asked when generation stops with an error: true (a client's cancel) keeps and stores the images finished
   * before it (`partial`) instead of failing.
   */
  keepFinished?: () => boolean;
}

export class ImageProducer {
  constructor(private readonly deps: ImageProducerDeps) {}

  /** Generates and stores the images; on failure, every file already written is deleted before the error is rethrown. */
  async produce(order: ProductionOrder, control: ProductionControl): Promise<Produced> {
    const files: string[] = [];
    try {
      return { ...(await this.#produce(order, control, files)), files };
    } catch (err) {
      await this.discard(files);
      throw err;
    }
  }

  /** Deletes files that no entry will reference (a failed or lost job); never throws. */
  async discard(files: string[]): Promise<void> {
    await this.deps.janitor.delete(files, { reason: 'failed or lost job' });
  }

  /**
   * The hires fix's second pass, as A1111's enable_hr: each first-pass image upscaled with Lanczos to the output size,
   * then refined by image-to-image with its own seed at the hires strength and steps.
   */
  async #refine(
    engine: Engine,
    options: GenerateRequest,
    images: GeneratedImage[],
    hires: { width: number; height: number; steps: number; strength: number },
    control: { signal: AbortSignal; onProgress?: (progress: GenerationProgress) => void },
    firstSteps: number,
  ): Promise<GeneratedImage[]> {
    const refined: GeneratedImage[] = [];
    for (const [i, image] of images.entries()) {
      if (control.signal.aborted) throw control.signal.reason ?? new Error('aborted');
      const upscaled = await resizeRgb(image, hires.width, hires.height);
      const onProgress = control.onProgress && ((p: GenerationProgress) => control.onProgress?.({ image: i, images: images.length, step: firstSteps + p.step, steps: firstSteps + p.steps }));
      const [out] = await this.deps.generator.generate(
        modelTarget(engine),
        { ...options, width: hires.width, height: hires.height, steps: hires.steps, images: 1, seed: image.seed, init: { image: upscaled, strength: hires.strength } },
        { signal: control.signal, onProgress },
      );
      refined.push(out);
    }
    return refined;
  }

  #initImage(request: GenerationRequest, inputs: { init: string; mask?: string }): Promise<InitImage> {
    return readInit(this.deps.storage, request, inputs);
  }

  async #produce(order: ProductionOrder, control: ProductionControl, files: string[]): Promise<{ items: ImageItem[]; partial: boolean }> {
    const { request } = order;
    const engine = this.deps.engines.require(order.engine);
    const target = parseResolution(request.resolution);
    if (!target) throw new Error(`Cannot run the request: "${request.resolution}" is not a resolution`);
    // The engine's own plan: the size itself, or (upscaling engines) the native area in the requested aspect ratio.
    const size = planSize(engine.model, target, { upscale: engine.upscale });
    const init = order.inputs ? await this.#initImage(request, order.inputs) : undefined;
    const options = toEngineOptions(request, engine, { size, seed: order.seed, init });
    // Hires fix (text-to-image only, as the request check made sure): the refinement runs at the first pass's size ×
    // scale (an upscaling engine's first pass is its native area, which bounds what its model can run), and the
    // output is the resolution × scale (resized to it when the two differ, as the first pass is).
    const m = engine.model.latentMultiple;
    const hiresRun = !init && request.hires ? { ...hiresSize(size, request.hires.scale, m), steps: request.hires.steps, strength: request.hires.strength } : undefined;
    const hiresOut = request.hires && hiresRun ? hiresSize(target, request.hires.scale, m) : undefined;
    // With the hires fix, progress counts both passes: the first pass's steps, then each image's refinement.
    const hiresCount = hiresRun ? Math.trunc(hiresRun.steps * hiresRun.strength) : 0;
    const first = hiresRun && control.onProgress ? (p: GenerationProgress) => control.onProgress?.({ ...p, steps: p.steps + hiresCount }) : control.onProgress;
    const finished: GeneratedImage[] = [];
    let images: GeneratedImage[];
    let partial = false;
    try {
      images = await this.deps.generator.generate(modelTarget(engine), options, {
        signal: control.signal,
        onProgress: first,
        preview: control.preview,
        onImage: control.keepFinished && ((image, index) => void (finished[index] = image)),
      });
      if (hiresRun) images = await this.#refine(engine, options, images, hiresRun, control, request.steps);
    } catch (err) {
      // A hires request's first-pass images are not its output: a cancel keeps none of them.
      if (hiresRun || !control.keepFinished?.()) throw err;
      // Image i is only kept with every image before it: image i always has seed + i.
      const count = finished.findIndex((image) => image === undefined);
      images = count < 0 ? finished : finished.slice(0, count);
      partial = true;
    }
    const outSize = hiresOut ?? target;
    const prompt = request.prompts.filter((p) => p.weight > 0).map((p) => p.text).join(', ');
    const negative = request.prompts.filter((p) => p.weight < 0).map((p) => p.text).join(', ');
    const items: ImageItem[] = [];
    for (const [i, image] of images.entries()) {
      if (control.signal.aborted && !partial) throw control.signal.reason ?? new Error('aborted');
      const text = parametersText({
        prompt,
        negativePrompt: negative,
        steps: request.steps,
        sampler: options.sampler,
        cfgScale: options.cfgScale,
        seed: image.seed,
        width: target.width,
        height: target.height,
        model: engine.model.name,
        style: request.style,
        denoisingStrength: init?.strength ?? hiresRun?.strength,
        hires: hiresRun && { scale: request.hires?.scale ?? 1, steps: hiresRun.steps },
      });
      const encoded = await encodeImage(image, outSize, text);
      const key = `${order.aiVersionCode}/${fileId(order.jobId, i)}.png`;
      const thumbKey = `${key}.thumbnail.jpg`;
      files.push(key, thumbKey);
      // Both objects are stored (S3: whole, with their type and cache headers) before the job can count as done.
      await this.deps.storage.put(key, encoded.png, { contentType: 'image/png', cacheControl: IMMUTABLE_CACHE_CONTROL });
      await this.deps.storage.put(thumbKey, encoded.thumbnail, { contentType: 'image/jpeg', cacheControl: IMMUTABLE_CACHE_CONTROL });
      items.push({
        url: `${this.deps.publicUrl}/storage/${key}`,
        thumbnail_url: `${this.deps.publicUrl}/storage/${thumbKey}`,
        dimensions: `${encoded.width}x${encoded.height}`,
        filesize: encoded.png.length,
        seed: image.seed,
        finish_reason: 'SUCCESS',
      });
    }
    return { items, partial };
  }
}

/** The engine's init image from the request's stored copies (see initFromPngs()). */
async function readInit(storage: FileStorage, request: GenerationRequest, inputs: { init: string; mask?: string }): Promise<InitImage> {
  const strength = diffusersStrength(request);
  if (strength === undefined) throw new Error('Cannot run the request: it has image inputs but no init_image');
  const [init, mask] = await Promise.all([storage.read(inputs.init), inputs.mask === undefined ? undefined : storage.read(inputs.mask)]);
  return initFromPngs(init, request.mask_source === undefined ? undefined : mask, { strength, maskSource: request.mask_source, maskBlur: request.mask_blur });
}

/**
 * The engine's init image from PNGs: the RGB image (alpha dropped, as Pillow's convert("RGB") does), and for
 * inpainting the mask by its source (white or black repainted, or the init image's transparency), stretched to the
 * init image's size when it has another. The service and `sdapi generate` both build it here.
 */
export async function initFromPngs(initPng: Buffer, maskPng: Buffer | undefined, options: { strength: number; maskSource?: MaskSource; maskBlur?: number }): Promise<InitImage> {
  const pixels = await decodePng(initPng);
  const split = pixels.channels === 4 ? maskFromAlpha(pixels) : undefined;
  const image = split?.image ?? { width: pixels.width, height: pixels.height, rgb: pixels.data };
  const init: InitImage = { image, strength: options.strength };
  if (options.maskSource === 'INIT_IMAGE_ALPHA') {
    if (!split) throw new Error('Cannot inpaint with mask source INIT_IMAGE_ALPHA: the init image has no alpha channel');
    init.mask = split.mask;
  } else if (options.maskSource !== undefined && maskPng !== undefined) {
    let mask: MaskImage = maskFromImage(await decodePng(maskPng), options.maskSource === 'MASK_IMAGE_BLACK' ? 'black' : 'white');
    if (mask.width !== image.width || mask.height !== image.height) {
      mask = { width: image.width, height: image.height, data: resizeLanczos(mask.data, mask.width, mask.height, 1, image.width, image.height) };
    }
    init.mask = mask;
  }
  if (init.mask && options.maskBlur !== undefined) init.maskBlur = options.maskBlur;
  return init;
}

/** A stable UUID-shaped file id for image `index` of `jobId`. */
export function fileId(jobId: string, index: number): string {
  const h = createHash('sha256').update(`${jobId}:${index}`).digest();
  h[6] = (h[6] & 0x0f) | 0x40;
  h[8] = (h[8] & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
