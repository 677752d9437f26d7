/**
 * What the service needs from an image engine. The real implementation runs the ONNX engine in worker threads
 * (engine-generator.ts); the API, queue and tests depend only on this interface.
 */
import type { GeneratedImage, GenerationProgress, PreviewImage, SamplerName, WeightedPrompt } from '../../engine/index.ts';
import type { ModelTarget } from './engine-catalog.ts';

export type { GeneratedImage, GenerationProgress, ModelTarget, PreviewImage, SamplerName, WeightedPrompt };

export interface GenerateRequest {
  prompts: WeightedPrompt[];
  width: number;
  height: number;
  steps: number;
  cfgScale: number;
  sampler: SamplerName;
  seed: number;
  images: number;
  style?: string;
}

export interface GenerateControl {
  signal?: AbortSignal;
  onProgress?: (progress: GenerationProgress) => void;
  /** Each image as soon as it is done (a cancelled request keeps the ones already received). */
  onImage?: (image: GeneratedImage, index: number) => void;
  /** Live previews, at most one per `intervalMs` per request. */
  preview?: { intervalMs: number; onPreview(preview: PreviewImage): void };
}

export interface ImageGenerator {
  /** Creates the model's sessions now (a worker's start-up check); resolves with the device they run on. */
  preload(target: ModelTarget): Promise<string>;
  generate(target: ModelTarget, request: GenerateRequest, control?: GenerateControl): Promise<GeneratedImage[]>;
  /** The device a target's model runs on, as far as known: its own, or `cpu` once a CUDA fallback happened. */
  deviceFor(target: ModelTarget): string;
  close(): Promise<void>;
}
