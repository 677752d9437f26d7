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
  /** Resolvers of the calls waiting now, oldest first (releaseOne() lets the first through). */
  readonly #waiting: (() => void)[] = [];

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
      const done = () => {
        const at = this.#waiting.indexOf(done);
        if (at >= 0) this.#waiting.splice(at, 1);
        clearTimeout(timer);
        resolve();
      };
      this.#waiting.push(done);
      signal?.addEventListener('abort', () => (this.#waiting.includes(done) && this.#waiting.splice(this.#waiting.indexOf(done), 1), clearTimeout(timer), reject(signal.reason)), { once: true });
      void this.#released.then(done);
    });
    return this.inner.generate(target, request, control);
  }

  /** Lets the oldest held generate() call through (false when none is held now). */
  releaseOne(): boolean {
    const first = this.#waiting[0];
    first?.();
    return first !== undefined;
  }

  /** Lets every held and later generate() call through. */
  release(): void {
    this.#release?.();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
