/**
 * What the service needs from an image engine. The real implementation runs the ONNX engine in a
 * worker thread (engine-generator.ts); the API, queue and tests depend only on this interface.
 */
import type { GeneratedImage, GenerationProgress, SamplerName, WeightedPrompt } from '../../engine/index.ts';

export type { GeneratedImage, GenerationProgress, SamplerName, WeightedPrompt };

export interface ModelSummary {
  /** Folder name, shown as the model name. */
  name: string;
  family: string;
  nativeWidth: number;
  nativeHeight: number;
  defaultSampler: string;
  samplers: string[];
}

export interface GenerateRequest {
  prompts: WeightedPrompt[];
  width: number;
  height: number;
  steps: number;
  cfgScale: number;
  sampler?: SamplerName;
  seed: number;
  images: number;
  style?: string;
}

export interface GenerateControl {
  signal?: AbortSignal;
  onProgress?: (progress: GenerationProgress) => void;
}

export interface ImageGenerator {
  describe(modelDir: string): Promise<ModelSummary>;
  generate(modelDir: string, request: GenerateRequest, control?: GenerateControl): Promise<GeneratedImage[]>;
  close(): Promise<void>;
}
