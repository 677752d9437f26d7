/**
 * A test double of the image generator that needs no model: each image reports its steps and is delivered through
 * onImage; after image `holdAfter` it waits until the job's signal aborts (a cancel), so a test can cancel a running
 * request at a known point. Images are flat grey.
 */
import type { GenerateControl, GenerateRequest, GeneratedImage, ImageGenerator, ModelTarget } from '../../src/services/generation/image-generator.ts';

export class ScriptedGenerator implements ImageGenerator {
  /** Resolves when the generator reaches its hold point. */
  readonly holding: Promise<void>;
  #holding: () => void = () => undefined;

  constructor(private readonly holdAfter = 0) {
    this.holding = new Promise((resolve) => (this.#holding = resolve));
  }

  async preload(): Promise<string> {
    return 'cpu';
  }

  deviceFor(): string {
    return 'cpu';
  }

  async generate(_target: ModelTarget, request: GenerateRequest, control: GenerateControl = {}): Promise<GeneratedImage[]> {
    const images: GeneratedImage[] = [];
    for (let i = 0; i < request.images; i++) {
      for (let step = 1; step <= request.steps; step++) {
        if (control.signal?.aborted) throw control.signal.reason;
        control.onProgress?.({ image: i, images: request.images, step, steps: request.steps });
      }
      const image = { width: request.width, height: request.height, rgb: new Uint8Array(request.width * request.height * 3).fill(128), seed: request.seed + i };
      images.push(image);
      control.onImage?.(image, i);
      if (i === this.holdAfter) {
        this.#holding();
        await new Promise<void>((_resolve, reject) => {
          if (control.signal?.aborted) return reject(control.signal.reason);
          control.signal?.addEventListener('abort', () => reject(control.signal?.reason), { once: true });
        });
      }
    }
    return images;
  }

  async close(): Promise<void> {}
}
