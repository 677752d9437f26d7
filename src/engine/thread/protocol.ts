/** Messages between EngineThread (main thread) and its worker. */
import type { ModelInfo } from '../model/types.ts';
import type { EngineErrorCode } from '../errors.ts';
import type { Device } from '../runtime/ort.ts';
import type { GeneratedImage, GenerateOptions, GenerationProgress, PreviewImage, StageTimings } from '../types.ts';

/**
 * The serialisable part of GenerateOptions (signal, onProgress and preview cross the boundary separately). An init
 * image's and mask's buffers are transferred with the message where possible (EngineThread.generate).
 */
export type ThreadGenerateOptions = Omit<GenerateOptions, 'signal' | 'onProgress' | 'preview' | 'onImage'>;

export interface WorkerConfig {
  device?: Device;
  strictDevice?: boolean;
  threads?: number;
  /**
   * Budget for loaded models, estimated from their ONNX files (+ external data). Loading a model that would exceed
   * it first unloads the least recently used ones; a model larger than the budget still loads, alone.
   * Absent: no limit.
   */
  modelMemoryBytes?: number;
}

export type ToWorker =
  | {
      type: 'generate';
      id: number;
      modelDir: string;
      options: ThreadGenerateOptions;
      /** Int32Array over a SharedArrayBuffer; element 0 becomes 1 on cancel. Shared memory, because the worker's
       * event loop does not get to process messages while ONNX Runtime runs a model. */
      cancelFlag: SharedArrayBuffer;
      /** Present when the caller wants previews (the callback stays on the main thread). */
      previewIntervalMs?: number;
      /** The caller wants each image as soon as it is done (a copy is sent; the result still carries all of them). */
      streamImages?: boolean;
    }
  | { type: 'load'; id: number; modelDir: string }
  | { type: 'loaded'; id: number }
  | { type: 'close'; id: number };

export type FromWorker =
  | { type: 'progress'; id: number; progress: GenerationProgress }
  /** The preview's pixel buffer is transferred. */
  | { type: 'preview'; id: number; preview: PreviewImage }
  | { type: 'image'; id: number; index: number; image: GeneratedImage }
  | { type: 'result'; id: number; images: GeneratedImage[]; timings: StageTimings }
  | { type: 'info'; id: number; info: ModelInfo }
  | { type: 'loaded'; id: number; modelDirs: string[] }
  | { type: 'closed'; id: number }
  | { type: 'error'; id: number; code: EngineErrorCode; message: string }
  | { type: 'log'; message: string };
