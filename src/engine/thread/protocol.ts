/** Messages between EngineThread (main thread) and its worker. */
import type { ModelInfo } from '../model/types.ts';
import type { EngineErrorCode } from '../errors.ts';
import type { Device } from '../runtime/ort.ts';
import type { GeneratedImage, GenerateOptions, GenerationProgress } from '../types.ts';

/** The serialisable part of GenerateOptions (signal and onProgress cross the boundary separately). */
export type ThreadGenerateOptions = Omit<GenerateOptions, 'signal' | 'onProgress'>;

export interface WorkerConfig {
  device?: Device;
  threads?: number;
  /**
   * Fault injection for tests: the worker thread exits abruptly (as after a native crash) once it has sent this
   * many progress events. It exits between two UNet runs: terminating a thread while ONNX Runtime is inside run()
   * aborts the whole process, which is exactly what this must not simulate.
   */
  exitAfterProgressEvents?: number;
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
    }
  | { type: 'info'; id: number; modelDir: string }
  | { type: 'loaded'; id: number }
  | { type: 'close'; id: number };

export type FromWorker =
  | { type: 'progress'; id: number; progress: GenerationProgress }
  | { type: 'images'; id: number; images: GeneratedImage[] }
  | { type: 'info'; id: number; info: ModelInfo }
  | { type: 'loaded'; id: number; modelDirs: string[] }
  | { type: 'closed'; id: number }
  | { type: 'error'; id: number; code: EngineErrorCode; message: string }
  | { type: 'log'; message: string };
