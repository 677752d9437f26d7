/**
 * EngineThread: runs pipelines in a worker_threads Worker, because onnxruntime-node's run() blocks the thread
 * it is called on. Progress, previews and cancellation cross the boundary; an init image and mask go to the worker,
 * and images and previews come back, with their pixel buffers transferred (not copied). Errors keep their
 * EngineError code.
 */
import { Worker } from 'node:worker_threads';
import { EngineError } from '../errors.ts';
import { inspectModel } from '../model/manifest.ts';
import type { ModelInfo, ModelManifest } from '../model/types.ts';
import type { GeneratedImage, GenerateResult, GenerationProgress, PreviewImage } from '../types.ts';
import type { FromWorker, ThreadGenerateOptions, ToWorker, WorkerConfig } from './protocol.ts';

export type { ThreadGenerateOptions } from './protocol.ts';

export interface EngineThreadOptions extends WorkerConfig {
  /** Receives the worker's operational warnings (e.g. CUDA fallback). */
  logger?: (message: string) => void;
  /**
   * The worker module to start instead of the engine's own (worker-bootstrap.mjs). For tests (fault injection)
   * and for embedding (e.g. a bundled build); the module must end up running thread/worker-entry.ts.
   */
  workerUrl?: URL;
}

export interface ThreadRunControls {
  signal?: AbortSignal;
  onProgress?: (progress: GenerationProgress) => void;
  /** Each image as soon as it is done (GenerateOptions.onImage); runs on this thread. */
  onImage?: (image: GeneratedImage, index: number) => void;
  /** Previews as in GenerateOptions.preview; `onPreview` runs on this thread. */
  preview?: { intervalMs: number; onPreview(preview: PreviewImage): void };
}

interface Pending {
  resolve: (value: FromWorker) => void;
  reject: (err: Error) => void;
  onProgress?: (progress: GenerationProgress) => void;
  onPreview?: (preview: PreviewImage) => void;
  onImage?: (image: GeneratedImage, index: number) => void;
}

export class EngineThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private exited: Error | undefined;

  constructor(private readonly options: EngineThreadOptions = {}) {
    const config: WorkerConfig = {
      device: options.device,
      strictDevice: options.strictDevice,
      threads: options.threads,
      modelMemoryBytes: options.modelMemoryBytes,
    };
    // worker-bootstrap.mjs registers tsx and imports worker-entry.ts (see there why a .ts entry cannot be used directly).
    this.worker = new Worker(options.workerUrl ?? new URL('./worker-bootstrap.mjs', import.meta.url), { workerData: config });
    this.worker.unref(); // an idle thread does not keep the process alive; pending requests do (see request())
    this.worker.on('message', (message: FromWorker) => this.onMessage(message));
    this.worker.on('error', (err) => this.fail(new EngineError('runtime_error', `Engine thread crashed: ${err.message}`, { cause: err })));
    this.worker.on('exit', (code) => this.fail(new EngineError('runtime_error', `Engine thread exited (code ${code})`)));
  }

  /** False once the worker has exited or crashed; every later call rejects, so callers start a new EngineThread. */
  get alive(): boolean {
    return this.exited === undefined;
  }

  /** The folder's manifest, read from its files on this thread: no sessions, no worker round trip. */
  inspect(modelDir: string): Promise<ModelManifest> {
    return inspectModel(modelDir);
  }

  /** The model's manifest and device; loads the model in the worker if it is not loaded yet. */
  async info(modelDir: string): Promise<ModelInfo> {
    const reply = await this.request({ type: 'load', id: this.nextId++, modelDir });
    if (reply.type !== 'info') throw unexpected(reply);
    return reply.info;
  }

  /** Loads the model's sessions now (e.g. at startup), so the first request does not pay for it; rejects on failure. */
  preload(modelDir: string): Promise<ModelInfo> {
    return this.info(modelDir);
  }

  /** The model folders (resolved paths) whose sessions the worker holds, least recently used first. */
  async loadedModels(): Promise<string[]> {
    const reply = await this.request({ type: 'loaded', id: this.nextId++ });
    if (reply.type !== 'loaded') throw unexpected(reply);
    return reply.modelDirs;
  }

  /**
   * Generates in the worker. An init image's and mask's buffers are transferred to it when each array spans its
   * whole ArrayBuffer (the caller's arrays are then detached: length 0); views into a larger buffer (e.g. pooled
   * Node Buffers) are copied instead. Pass copies to keep using the originals.
   */
  async generate(modelDir: string, options: ThreadGenerateOptions, controls: ThreadRunControls = {}): Promise<GenerateResult> {
    const { signal, onProgress, preview, onImage } = controls;
    if (signal?.aborted) throw new EngineError('cancelled', 'Generation cancelled');
    const cancelFlag = new SharedArrayBuffer(4);
    const cancel = (): void => {
      Atomics.store(new Int32Array(cancelFlag), 0, 1);
    };
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      const message: ToWorker = { type: 'generate', id: this.nextId++, modelDir, options, cancelFlag, previewIntervalMs: preview?.intervalMs, streamImages: onImage !== undefined };
      const reply = await this.request(message, { onProgress, onImage, onPreview: preview && ((p) => preview.onPreview(p)) }, initTransfers(options));
      if (reply.type !== 'result') throw unexpected(reply);
      return { images: reply.images, timings: reply.timings };
    } finally {
      signal?.removeEventListener('abort', cancel);
    }
  }

  /** Disposes every loaded model and stops the worker. */
  async close(): Promise<void> {
    if (!this.exited) {
      try {
        await this.request({ type: 'close', id: this.nextId++ });
      } catch {
        // already gone: nothing to dispose
      }
    }
    await this.worker.terminate();
  }

  private request(message: ToWorker, callbacks: Pick<Pending, 'onProgress' | 'onPreview' | 'onImage'> = {}, transfer: ArrayBuffer[] = []): Promise<FromWorker> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise<FromWorker>((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(message.id, { resolve, reject, ...callbacks });
      try {
        this.worker.postMessage(message, transfer);
      } catch (err) {
        // E.g. a detached buffer (one already transferred) or one Node marked untransferable.
        this.settle(message.id);
        const reason = err instanceof Error ? err.message : String(err);
        reject(new EngineError('invalid_argument', `Cannot send the request to the engine thread: ${reason}`, { cause: err }));
      }
    });
  }

  private settle(id: number): Pending | undefined {
    const entry = this.pending.get(id);
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker.unref();
    return entry;
  }

  private onMessage(message: FromWorker): void {
    switch (message.type) {
      case 'log':
        this.options.logger?.(message.message);
        return;
      case 'progress':
        this.pending.get(message.id)?.onProgress?.(message.progress);
        return;
      case 'preview':
        this.pending.get(message.id)?.onPreview?.(message.preview);
        return;
      case 'image':
        this.pending.get(message.id)?.onImage?.(message.image, message.index);
        return;
      case 'error':
        this.settle(message.id)?.reject(new EngineError(message.code, message.message));
        return;
      default:
        this.settle(message.id)?.resolve(message);
    }
  }

  private fail(err: EngineError): void {
    this.exited ??= err;
    for (const id of [...this.pending.keys()]) this.settle(id)?.reject(err);
  }
}

/** The init image's and mask's buffers that can move to the worker: plain ArrayBuffers the arrays span entirely. */
function initTransfers(options: ThreadGenerateOptions): ArrayBuffer[] {
  const init = options.init;
  if (!init) return [];
  const buffers = new Set<ArrayBuffer>();
  for (const array of [init.image?.rgb, init.mask?.data]) {
    if (array instanceof Uint8Array && array.buffer instanceof ArrayBuffer && array.byteOffset === 0 && array.byteLength === array.buffer.byteLength) {
      buffers.add(array.buffer);
    }
  }
  return [...buffers];
}

function unexpected(reply: FromWorker): EngineError {
  return new EngineError('runtime_error', `Unexpected reply ${reply.type} from the engine thread`);
}
