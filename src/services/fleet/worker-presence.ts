/**
 * A worker's row in the `workers` table: written when it starts, refreshed by a heartbeat (with the device each
 * engine actually runs on, which may change after a lazy load falls back to the CPU), deleted when it stops. A row
 * whose heartbeat is older than WORKER_DEAD_AFTER_MS belongs to a worker that died.
 */
import { hostname } from 'node:os';
import { systemClock, type Clock } from '../../domain/clock.ts';
import { silentLogger, type OperationalLogger } from '../../domain/logger.ts';
import type { DataStore } from '../../store/database.ts';

export const WORKER_HEARTBEAT_MS = 5000;
/** Three missed heartbeats. */
export const WORKER_DEAD_AFTER_MS = 3 * WORKER_HEARTBEAT_MS;

/** An engine a worker serves and the device it runs on. */
export interface ServedEngine {
  id: string;
  device: string;
}

export interface WorkerPresenceDeps {
  store: DataStore;
  /** The worker's id: its queue's lease owner. */
  id: string;
  concurrency: number;
  /** What the worker serves now (read at every heartbeat). */
  engines: () => ServedEngine[];
  clock?: Clock;
  heartbeatMs?: number;
  logger?: OperationalLogger;
}

export class WorkerPresence {
  readonly #clock: Clock;
  readonly #log: OperationalLogger;
  #timer: NodeJS.Timeout | undefined;
  #beating: Promise<void> | undefined;
  readonly #startedAt: string;

  constructor(private readonly deps: WorkerPresenceDeps) {
    this.#clock = deps.clock ?? systemClock;
    this.#log = deps.logger ?? silentLogger;
    this.#startedAt = this.#clock().toISOString();
  }

  get id(): string {
    return this.deps.id;
  }

  /** Registers the worker and starts the heartbeat. */
  async start(): Promise<void> {
    await this.#register();
    this.#timer = setInterval(() => void this.beat(), this.deps.heartbeatMs ?? WORKER_HEARTBEAT_MS);
    this.#timer.unref();
  }

  /** One heartbeat now (the timer calls it; tests too). A row swept as dead is written again. */
  beat(): Promise<void> {
    this.#beating ??= (async () => {
      try {
        const touched = await this.deps.store.repos.workers.touch(this.deps.id, { lastSeen: this.#clock().toISOString(), engines: this.#engines() });
        if (!touched) await this.#register();
      } catch (err) {
        this.#log.warn({ err, worker: this.deps.id }, 'worker heartbeat failed');
      } finally {
        this.#beating = undefined;
      }
    })();
    return this.#beating;
  }

  /** Stops the heartbeat and deletes the row (a graceful stop: the worker no longer serves anything). */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#beating;
    await this.deps.store.repos.workers.remove(this.deps.id).catch((err: unknown) => this.#log.warn({ err, worker: this.deps.id }, 'removing the worker row failed'));
  }

  #engines(): string {
    return JSON.stringify(this.deps.engines());
  }

  async #register(): Promise<void> {
    await this.deps.store.repos.workers.upsert({
      id: this.deps.id,
      host: hostname(),
      pid: process.pid,
      engines: this.#engines(),
      concurrency: this.deps.concurrency,
      started_at: this.#startedAt,
      last_seen: this.#clock().toISOString(),
    });
  }
}
