/**
 * Public API of the engine library: inspect and load a diffusers/optimum ONNX Stable Diffusion folder and generate
 * images.
 *
 *   const manifest = await inspectModel('models/tiny/sd1');   // files only, no sessions
 *   const pipe = await loadModel('models/tiny/sd1');
 *   const { images, timings } = await pipe.generate({ prompts: [{ text: 'a cat', weight: 1 }], width: 512,
 *     height: 512, steps: 20, cfgScale: 7.5, seed: 42, images: 1 });
 *   // image-to-image / inpainting: add init: { image: { width, height, rgb }, strength: 0.6, mask?, maskBlur? }
 *   await pipe.dispose();
 *
 * onnxruntime-node's run() blocks the JS thread; services should use EngineThread (./thread/engine-thread.ts).
 */
import { loadModelFolder } from './model/loader.ts';
import type { ModelFamily } from './model/types.ts';
import { StableDiffusionPipeline } from './pipeline/text2img.ts';
import type { Device } from './runtime/ort.ts';

export interface LoadModelOptions {
  /**
   * 'cuda' / 'cuda:N' tries the CUDA execution provider and falls back to CPU (with one logger warning) when it
   * cannot be used; `pipeline.device` tells which one runs.
   */
  device?: Device;
  /** With a CUDA device: a missing provider is EngineError('device_unavailable') instead of a CPU fallback. */
  strictDevice?: boolean;
  /** ONNX Runtime intra-op threads; defaults to the number of available cores. */
  threads?: number;
  /** Use this family instead of the detected one (Turbo models cannot be detected from files). */
  family?: ModelFamily;
  /** Receives operational warnings; silent by default. */
  logger?: (message: string) => void;
}

export async function loadModel(dir: string, opts: LoadModelOptions = {}): Promise<StableDiffusionPipeline> {
  return new StableDiffusionPipeline(await loadModelFolder(dir, opts));
}

export { inspectModel } from './model/manifest.ts';
export type { InspectOptions } from './model/manifest.ts';
export { planSize } from './pipeline/plan-size.ts';
export type { SizePlan } from './pipeline/plan-size.ts';
export { denoisingSteps } from './pipeline/strength.ts';
export { MAX_MASK_BLUR, maskFromAlpha, maskFromImage } from './pipeline/mask.ts';
export type { PixelBuffer } from './pipeline/mask.ts';
export { resizeLanczos } from './pipeline/resize.ts';
export { StableDiffusionPipeline } from './pipeline/text2img.ts';
export { MODEL_FAMILIES } from './model/types.ts';
export type { ComponentManifest, ComponentName, ModelFamily, ModelInfo, ModelManifest } from './model/types.ts';
export { describeRuntime, onnxSessionsCreated, onnxSessionsOpen, parseDevice } from './runtime/ort.ts';
export type { Device, ExecutionProviderInfo, ResolvedDevice, RuntimeDescription } from './runtime/ort.ts';
export type { TensorInfo } from './runtime/tensor.ts';
export * from './types.ts';
export { SAMPLER_NAMES } from './schedulers/types.ts';
export { applyStyle, STYLE_PRESETS } from './pipeline/styles.ts';
export { ClipTokenizer } from './tokenizer/clip-tokenizer.ts';
export { EngineError } from './errors.ts';
export type { EngineErrorCode } from './errors.ts';
