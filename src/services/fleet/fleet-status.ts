/**
 * The fleet as the API sees it: the live workers (from their heartbeat rows), which engines they serve on which
 * device, and how many jobs wait per engine. Reads only; the API caches what it shows (see EngineListCache).
 */
import { systemClock, type Clock } from '../../domain/clock.ts';
import type { DataStore } from '../../store/database.ts';
import type { WorkerRow } from '../../store/repositories/workers.repo.ts';
import { WORKER_DEAD_AFTER_MS, type ServedEngine } from './worker-presence.ts';

export interface WorkerInfo {
  id: string;
  host: string;
  pid: number;
  engines: ServedEngine[];
  concurrency: number;
  startedAt: string;
  lastSeen: string;
}

/** One engine's share of the fleet. */
export interface EngineLoad {
  /** Live workers serving it. */
  workers: number;
  /** Pending jobs for it. */
  queued: number;
  /** The devices its live workers run it on (distinct, sorted). */
  devices: string[];
}

export class FleetStatus {
  /** A worker whose last heartbeat is older than this is gone. */
  readonly deadAfterMs: number;
  readonly #clock: Clock;

  constructor(
    private readonly store: DataStore,
    options: { clock?: Clock; deadAfterMs?: number } = {},
  ) {
    this.#clock = options.clock ?? systemClock;
    this.deadAfterMs = options.deadAfterMs ?? WORKER_DEAD_AFTER_MS;
  }

  /** Workers whose last heartbeat is younger than `withinMs` (default: the live ones). */
  async workers(withinMs = this.deadAfterMs): Promise<WorkerInfo[]> {
    const since = new Date(this.#clock().getTime() - withinMs).toISOString();
    return (await this.store.repos.workers.seenSince(since)).map(toWorkerInfo);
  }

  /** Per engine id: live workers, pending jobs and devices. Engines nobody serves or waits for are absent. */
  async engineLoad(): Promise<Map<string, EngineLoad>> {
    const [workers, pending] = await Promise.all([this.workers(), this.store.repos.jobs.pendingByEngine()]);
    const load = new Map<string, EngineLoad>();
    const of = (id: string): EngineLoad => {
      let entry = load.get(id);
      if (!entry) load.set(id, (entry = { workers: 0, queued: 0, devices: [] }));
      return entry;
    };
    for (const worker of workers) {
      for (const engine of worker.engines) {
        const entry = of(engine.id);
        entry.workers += 1;
        if (!entry.devices.includes(engine.device)) entry.devices.push(engine.device);
      }
    }
    for (const entry of load.values()) entry.devices.sort();
    for (const [engine, queued] of pending) of(engine).queued = queued;
    return load;
  }

  /** Engine ids some worker served within the last `withinMs` (its heartbeat row is younger). */
  async enginesServedWithin(withinMs: number): Promise<string[]> {
    const ids = new Set<string>();
    for (const worker of await this.workers(withinMs)) for (const engine of worker.engines) ids.add(engine.id);
    return [...ids];
  }

  /** Deletes the rows of workers silent for longer than `olderThanMs` (crashed ones; a graceful stop deletes its own). */
  async forgetSilentWorkers(olderThanMs: number): Promise<number> {
    return this.store.repos.workers.removeSeenBefore(new Date(this.#clock().getTime() - olderThanMs).toISOString());
  }
}

function toWorkerInfo(row: WorkerRow): WorkerInfo {
  return {
    id: row.id,
    host: row.host,
    pid: Number(row.pid),
    engines: parseServed(row.engines),
    concurrency: Number(row.concurrency),
    startedAt: row.started_at,
    lastSeen: row.last_seen,
  };
}

/** The JSON a WorkerPresence wrote; anything malformed (another version's row) counts as serving nothing. */
function parseServed(text: string): ServedEngine[] {
  try {
    const value: unknown = JSON.parse(text);
    if (!Array.isArray(value)) return [];
    return value.flatMap((item: unknown) => {
      const id: unknown = typeof item === 'object' && item !== null ? Reflect.get(item, 'id') : undefined;
      const device: unknown = typeof item === 'object' && item !== null ? Reflect.get(item, 'device') : undefined;
      return typeof id === 'string' && typeof device === 'string' ? [{ id, device }] : [];
    });
  } catch {
    return [];
  }
}
