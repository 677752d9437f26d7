/** Wake-ups between the API and the workers of one process: a resolved promise, no polling delay. */
import type { WorkNotifier } from './work-notifier.ts';

export class InProcessNotifier implements WorkNotifier {
  readonly #waiters = new Set<() => void>();
  /** A notification nobody was waiting for; the next wait returns at once, so a worker between claims misses none. */
  #pending = false;
  #closed = false;

  notify(): void {
    if (this.#waiters.size === 0) {
      this.#pending = true;
      return;
    }
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiters) wake();
  }

  wait(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.#pending || this.#closed || signal?.aborted) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      signal?.addEventListener('abort', done, { once: true });
      this.#waiters.add(done);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.notify();
  }
}
