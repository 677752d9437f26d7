/**
 * How a running job learns that its client cancelled it. The cancel request is written to the job row first
 * (jobs.cancel_requested_at), then announced on the broadcast, which reaches the worker at once in any process;
 * the worker also reads the row when it starts watching and every `pollMs` while it watches, so a lost message or a
 * restarted worker only delays the stop.
 */
import type { Broadcast } from '../../queue/broadcast.ts';
import type { DataStore } from '../../store/database.ts';

const CHANNEL = 'cancel';

export interface CancelWatchDeps {
  store: DataStore;
  broadcast: Broadcast;
  /** How often watched jobs are checked in the database (default 2 s). */
  pollMs?: number;
}

export class CancelWatch {
  readonly #watched = new Map<string, Set<() => void>>();
  #unsubscribe: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: CancelWatchDeps) {}

  /** Announces a cancel request already written to the job row. */
  announce(jobId: string): void {
    this.deps.broadcast.publish(CHANNEL, jobId);
  }

  /** Calls `onCancel` (once) when the job is asked to stop; returns a function that ends the watch. */
  watch(jobId: string, onCancel: () => void): () => void {
    let fired = false;
    const fire = () => {
      if (fired) return;
      fired = true;
      onCancel();
    };
    let callbacks = this.#watched.get(jobId);
    if (!callbacks) this.#watched.set(jobId, (callbacks = new Set()));
    callbacks.add(fire);
    this.#unsubscribe ??= this.deps.broadcast.subscribe(CHANNEL, (id) => this.#fire([id]));
    this.#timer ??= setInterval(() => void this.check(), this.deps.pollMs ?? 2000).unref();
    void this.check([jobId]);
    return () => {
      callbacks.delete(fire);
      if (callbacks.size === 0 && this.#watched.get(jobId) === callbacks) this.#watched.delete(jobId);
      if (this.#watched.size === 0) this.#stop();
    };
  }

  /** Reads the cancel requests of watched jobs (all of them by default) from the database. */
  async check(jobIds: readonly string[] = [...this.#watched.keys()]): Promise<void> {
    try {
      this.#fire(await this.deps.store.repos.jobs.cancelRequested(jobIds));
    } catch {
      // the next poll tries again
    }
  }

  #fire(jobIds: readonly string[]): void {
    for (const id of jobIds) for (const fire of [...(this.#watched.get(id) ?? [])]) fire();
  }

  #stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
