/**
 * Public API of the engine library: load a diffusers/optimum ONNX Stable Diffusion folder and generate images.
 *
 *   const pipe = await loadModel('models/tiny/sd1');
 *   const [image] = await pipe.generate({ prompts: [{ text: 'a cat', weight: 1 }], width: 512, height: 512,
 *     steps: 20, cfgScale: 7.5, seed: 42, images: 1 });
 *   await pipe.dispose();
 *
 * onnxruntime-node's run() blocks the JS thread; services should use EngineThread (./thread/engine-thread.ts).
 */
import { loadModelFolder } from './model/loader.ts';
import { StableDiffusionPipeline } from './pipeline/text2img.ts';
import type { Device } from './runtime/ort.ts';

export interface LoadModelOptions {
  /** 'cuda' tries the CUDA execution provider and falls back to CPU (with a logger warning) when missing. */
  device?: Device;
  /** ONNX Runtime intra-op threads; defaults to the number of available cores. */
  threads?: number;
  /** Receives operational warnings; silent by default. */
  logger?: (message: string) => void;
}

export async function loadModel(dir: string, opts: LoadModelOptions = {}): Promise<StableDiffusionPipeline> {
  return new StableDiffusionPipeline(await loadModelFolder(dir, opts));
}

export { StableDiffusionPipeline } from './pipeline/text2img.ts';
export type { StageTimings } from './pipeline/text2img.ts';
export type { ModelInfo, ModelFamily } from './model/types.ts';
export type { Device } from './runtime/ort.ts';
export * from './types.ts';
export { SAMPLER_NAMES } from './schedulers/types.ts';
export { STYLE_PRESETS } from './pipeline/styles.ts';
export { ClipTokenizer } from './tokenizer/clip-tokenizer.ts';
export { EngineError } from './errors.ts';
export type { EngineErrorCode } from './errors.ts';
