/**
 * EngineThread: runs pipelines in a worker_threads Worker, because onnxruntime-node's run() blocks the thread
 * it is called on. Progress and cancellation cross the boundary; images come back with their pixel buffers
 * transferred (not copied). Errors keep their EngineError code.
 */
import { Worker } from 'node:worker_threads';
import { EngineError } from '../errors.ts';
import type { ModelInfo } from '../model/types.ts';
import type { GeneratedImage, GenerationProgress } from '../types.ts';
import type { FromWorker, ThreadGenerateOptions, ToWorker, WorkerConfig } from './protocol.ts';

export type { ThreadGenerateOptions } from './protocol.ts';

export interface EngineThreadOptions extends WorkerConfig {
  /** Receives the worker's operational warnings (e.g. CUDA fallback). */
  logger?: (message: string) => void;
}

export interface ThreadRunControls {
  signal?: AbortSignal;
  onProgress?: (progress: GenerationProgress) => void;
}

interface Pending {
  resolve: (value: FromWorker) => void;
  reject: (err: Error) => void;
  onProgress?: (progress: GenerationProgress) => void;
}

export class EngineThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private exited: Error | undefined;

  constructor(private readonly options: EngineThreadOptions = {}) {
    const config: WorkerConfig = { device: options.device, threads: options.threads, exitAfterProgressEvents: options.exitAfterProgressEvents };
    // worker-bootstrap.mjs registers tsx and imports worker-entry.ts (see there why a .ts entry cannot be used directly).
    this.worker = new Worker(new URL('./worker-bootstrap.mjs', import.meta.url), { workerData: config });
    this.worker.unref(); // an idle thread does not keep the process alive; pending requests do (see track())
    this.worker.on('message', (message: FromWorker) => this.onMessage(message));
    this.worker.on('error', (err) => this.fail(new EngineError('runtime_error', `Engine thread crashed: ${err.message}`, { cause: err })));
    this.worker.on('exit', (code) => this.fail(new EngineError('runtime_error', `Engine thread exited (code ${code})`)));
  }

  /** False once the worker has exited or crashed; every later call rejects, so callers start a new EngineThread. */
  get alive(): boolean {
    return this.exited === undefined;
  }

  async info(modelDir: string): Promise<ModelInfo> {
    const reply = await this.request({ type: 'info', id: this.nextId++, modelDir });
    if (reply.type !== 'info') throw new EngineError('runtime_error', `Unexpected reply ${reply.type} from the engine thread`);
    return reply.info;
  }

  /** The model folders (resolved paths) whose sessions the worker holds: each is loaded once and reused. */
  async loadedModels(): Promise<string[]> {
    const reply = await this.request({ type: 'loaded', id: this.nextId++ });
    if (reply.type !== 'loaded') throw new EngineError('runtime_error', `Unexpected reply ${reply.type} from the engine thread`);
    return reply.modelDirs;
  }

  async generate(modelDir: string, options: ThreadGenerateOptions, controls: ThreadRunControls = {}): Promise<GeneratedImage[]> {
    const { signal, onProgress } = controls;
    if (signal?.aborted) throw new EngineError('cancelled', 'Generation cancelled');
    const cancelFlag = new SharedArrayBuffer(4);
    const cancel = (): void => {
      Atomics.store(new Int32Array(cancelFlag), 0, 1);
    };
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      const reply = await this.request({ type: 'generate', id: this.nextId++, modelDir, options, cancelFlag }, onProgress);
      if (reply.type !== 'images') throw new EngineError('runtime_error', `Unexpected reply ${reply.type} from the engine thread`);
      return reply.images;
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

  private request(message: ToWorker, onProgress?: (progress: GenerationProgress) => void): Promise<FromWorker> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise<FromWorker>((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(message.id, { resolve, reject, onProgress });
      this.worker.postMessage(message);
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
