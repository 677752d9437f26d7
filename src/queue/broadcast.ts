/**
 * Fire-and-forget messages between processes (live entry events, cancel requests): in-process for one process,
 * Redis pub/sub for several (redis-broadcast.ts). A message is only ever a hint or a live copy: what must not be
 * lost is in the database first (events for replay, the cancel request on the job row), so a lost message costs a
 * delay, never a result.
 */
export type BroadcastListener = (message: string) => void;

export interface Broadcast {
  /** Sends `message` to every subscriber of `channel` (in every process, for a shared broadcast). Never throws. */
  publish(channel: string, message: string): void;
  /** Listens to `channel` until the returned function is called. */
  subscribe(channel: string, listener: BroadcastListener): () => void;
  /** Resolves once subscriptions made so far receive messages (Redis: the SUBSCRIBE was acknowledged). */
  ready(): Promise<void>;
  close(): Promise<void>;
}

/** Channels and listeners of one process; listeners run on a later microtask, each isolated from the others' errors. */
export class InProcessBroadcast implements Broadcast {
  readonly #channels = new Map<string, Set<BroadcastListener>>();

  publish(channel: string, message: string): void {
    const listeners = this.#channels.get(channel);
    if (!listeners || listeners.size === 0) return;
    for (const listener of [...listeners]) {
      queueMicrotask(() => {
        try {
          listener(message);
        } catch {
          // a subscriber's failure is its own
        }
      });
    }
  }

  subscribe(channel: string, listener: BroadcastListener): () => void {
    let listeners = this.#channels.get(channel);
    if (!listeners) this.#channels.set(channel, (listeners = new Set()));
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0 && this.#channels.get(channel) === listeners) this.#channels.delete(channel);
    };
  }

  async ready(): Promise<void> {}

  async close(): Promise<void> {
    this.#channels.clear();
  }
}
