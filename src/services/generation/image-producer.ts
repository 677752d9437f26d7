/**
 * Turns a request into delivered files: engine (in its worker thread) → images → PNG with an A1111 `parameters`
 * chunk (+ upscaling to the requested size) and a JPEG thumbnail → storage. File names derive from the job id,
 * so a re-run after a crash overwrites instead of leaving orphans. Knows nothing about entries or credits.
 */
import { createHash } from 'node:crypto';
import { planSize } from '../../engine/index.ts';
import type { ImageItem } from '../../domain/entry.ts';
import { parseResolution, type GenerationRequest } from '../../domain/generation-request.ts';
import { IMMUTABLE_CACHE_CONTROL, type FileStorage } from '../../storage/file-storage.ts';
import type { FileJanitor } from '../files/file-janitor.ts';
import { modelTarget, type EngineCatalog } from './engine-catalog.ts';
import { toEngineOptions } from './engine-options.ts';
import type { GeneratedImage, GenerateControl, GenerationProgress, ImageGenerator } from './image-generator.ts';
import { encodeImage } from './image-encoder.ts';
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

  async #produce(order: ProductionOrder, control: ProductionControl, files: string[]): Promise<{ items: ImageItem[]; partial: boolean }> {
    const { request } = order;
    const engine = this.deps.engines.require(order.engine);
    const target = parseResolution(request.resolution);
    if (!target) throw new Error(`Cannot run the request: "${request.resolution}" is not a resolution`);
    // The engine's own plan: the size itself, or (upscaling engines) the native area in the requested aspect ratio.
    const size = planSize(engine.model, target, { upscale: engine.upscale });
    const options = toEngineOptions(request, engine, { size, seed: order.seed });
    const finished: GeneratedImage[] = [];
    let images: GeneratedImage[];
    let partial = false;
    try {
      images = await this.deps.generator.generate(modelTarget(engine), options, {
        signal: control.signal,
        onProgress: control.onProgress,
        preview: control.preview,
        onImage: control.keepFinished && ((image, index) => void (finished[index] = image)),
      });
    } catch (err) {
      if (!control.keepFinished?.()) throw err;
      // Image i is only kept with every image before it: image i always has seed + i.
      const count = finished.findIndex((image) => image === undefined);
      images = count < 0 ? finished : finished.slice(0, count);
      partial = true;
    }
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
      });
      const encoded = await encodeImage(image, target, text);
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

/** A stable UUID-shaped file id for image `index` of `jobId`. */
export function fileId(jobId: string, index: number): string {
  const h = createHash('sha256').update(`${jobId}:${index}`).digest();
  h[6] = (h[6] & 0x0f) | 0x40;
  h[8] = (h[8] & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
