/**
 * ImageGenerator backed by the ONNX engine running in worker threads (EngineThread), so inference never blocks the
 * HTTP event loop: one thread per device, each keeping the models it used recently loaded within
 * `modelMemoryBytes` (least recently used unloaded first). A thread starts on first use.
 */
import { EngineThread, type EngineThreadOptions } from '../../engine/thread/engine-thread.ts';
import type { GeneratedImage } from '../../engine/index.ts';
import { normalDevice, type DeviceName } from '../../domain/devices.ts';
import type { ModelTarget } from './engine-catalog.ts';
import type { GenerateControl, GenerateRequest, ImageGenerator } from './image-generator.ts';

export interface EngineThreadGeneratorOptions extends Omit<EngineThreadOptions, 'device' | 'logger'> {
  /** Operational warnings of the engine (e.g. a CUDA fallback), each kind once per device. */
  warn?: (message: string) => void;
}

const CUDA_FALLBACK = /CUDA execution provider unavailable/;

export class EngineThreadGenerator implements ImageGenerator {
  readonly #threads = new Map<DeviceName, EngineThread>();
  /** Device asked for → device its sessions run on, once known. */
  readonly #actual = new Map<DeviceName, string>();
  readonly #warned = new Set<DeviceName>();
  #started = 0;

  constructor(private readonly options: EngineThreadGeneratorOptions = {}) {}

  /** Engine threads started so far (a diagnostic: an API-only process starts none). */
  get threadsStarted(): number {
    return this.#started;
  }

  /** The device's engine thread, started on first use and replaced after a crash, so one bad job cannot stop all later ones. */
  private thread(device: DeviceName): EngineThread {
    const key = normalDevice(device);
    let thread = this.#threads.get(key);
    if (!thread?.alive) {
      const { warn, ...options } = this.options;
      thread = new EngineThread({ ...options, device: key, logger: (message) => this.#onLog(key, message, warn) });
      this.#started += 1;
      this.#threads.set(key, thread);
    }
    return thread;
  }

  #onLog(device: DeviceName, message: string, warn: ((message: string) => void) | undefined): void {
    if (CUDA_FALLBACK.test(message)) {
      this.#actual.set(device, 'cpu');
      // The engine tells once per loaded model; the operator needs it once per device.
      if (this.#warned.has(device)) return;
      this.#warned.add(device);
    }
    warn?.(message);
  }

  async preload(target: ModelTarget): Promise<string> {
    const info = await this.thread(target.device).preload(target.dir);
    this.#actual.set(normalDevice(target.device), info.device);
    return info.device;
  }

  deviceFor(target: ModelTarget): string {
    const key = normalDevice(target.device);
    return this.#actual.get(key) ?? key;
  }

  /** The model folders loaded per device, least recently used first (diagnostics). */
  async loadedModels(): Promise<Record<string, string[]>> {
    const loaded: Record<string, string[]> = {};
    for (const [device, thread] of this.#threads) if (thread.alive) loaded[device] = await thread.loadedModels();
    return loaded;
  }

  async generate(target: ModelTarget, request: GenerateRequest, control: GenerateControl = {}): Promise<GeneratedImage[]> {
    return (await this.thread(target.device).generate(target.dir, request, control)).images;
  }

  async close(): Promise<void> {
    const threads = [...this.#threads.values()];
    this.#threads.clear();
    await Promise.all(threads.map((thread) => thread.close()));
  }
}
