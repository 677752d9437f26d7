/**
 * A test double around a real ImageGenerator: every generate() call waits (the job stays `running`) until the test
 * releases it, its delay passes or the job's signal aborts (cancel, shutdown), then delegates. Used in-process through the runtime's
 * overrides and in child processes through test/helpers/sdapi-test.ts.
 */
import type { GenerateControl, GenerateRequest, ImageGenerator, ModelTarget } from '../../src/services/generation/image-generator.ts';
import type { GeneratedImage } from '../../src/engine/index.ts';

export class HeldGenerator implements ImageGenerator {
  #release: (() => void) | undefined;
  #released: Promise<void>;
  /** How many generate() calls have started waiting. */
  held = 0;

  constructor(
    private readonly inner: ImageGenerator,
    /** Let each call through on its own after this long (default: only release() or an abort ends the wait). */
    private readonly delayMs?: number,
  ) {
    this.#released = new Promise((resolve) => (this.#release = resolve));
  }

  preload(target: ModelTarget): Promise<string> {
    return this.inner.preload(target);
  }

  deviceFor(target: ModelTarget): string {
    return this.inner.deviceFor(target);
  }

  async generate(target: ModelTarget, request: GenerateRequest, control: GenerateControl = {}): Promise<GeneratedImage[]> {
    this.held += 1;
    const signal = control.signal;
    await new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = this.delayMs === undefined ? undefined : setTimeout(resolve, this.delayMs);
      signal?.addEventListener('abort', () => (clearTimeout(timer), reject(signal.reason)), { once: true });
      void this.#released.then(resolve);
    });
    return this.inner.generate(target, request, control);
  }

  /** Lets every held and later generate() call through. */
  release(): void {
    this.#release?.();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
