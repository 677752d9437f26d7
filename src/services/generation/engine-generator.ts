/**
 * ImageGenerator backed by the ONNX engine running in a worker thread (EngineThread), so inference
 * never blocks the HTTP event loop. The thread starts on first use.
 */
import { basename } from 'node:path';
import { EngineThread, type EngineThreadOptions } from '../../engine/thread/engine-thread.ts';
import type { GeneratedImage } from '../../engine/index.ts';
import type { GenerateControl, GenerateRequest, ImageGenerator, ModelSummary } from './image-generator.ts';

export class EngineThreadGenerator implements ImageGenerator {
  #thread: EngineThread | undefined;

  constructor(private readonly options: EngineThreadOptions = {}) {}

  /** The engine thread, started on first use and replaced after a crash, so one bad job cannot stop all later ones. */
  private thread(): EngineThread {
    if (!this.#thread?.alive) this.#thread = new EngineThread(this.options);
    return this.#thread;
  }

  async describe(modelDir: string): Promise<ModelSummary> {
    const info = await this.thread().info(modelDir);
    return {
      name: basename(modelDir),
      family: info.family,
      nativeWidth: info.nativeWidth,
      nativeHeight: info.nativeHeight,
      defaultSampler: info.defaultSampler,
      samplers: [...info.samplers],
    };
  }

  async generate(modelDir: string, request: GenerateRequest, control: GenerateControl = {}): Promise<GeneratedImage[]> {
    return (await this.thread().generate(modelDir, request, control)).images;
  }

  async close(): Promise<void> {
    const thread = this.#thread;
    this.#thread = undefined;
    await thread?.close();
  }
}
