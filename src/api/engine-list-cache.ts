/**
 * GET /engines is a memory read: the list is serialised once and served as that string. The registry part never
 * changes while the process runs; the fleet part (live workers, queued jobs and devices per engine) is refreshed at
 * most once per `maxAgeMs`, in the background: a request that finds the list older serves it as it is and starts
 * one refresh, so no request waits on the database except the very first.
 */
import type { EngineCatalog } from '../services/generation/engine-catalog.ts';
import type { EngineLoad, FleetStatus } from '../services/fleet/fleet-status.ts';
import { engineView } from './views.ts';

export class EngineListCache {
  #body: string | undefined;
  #builtAt = 0;
  #refreshing: Promise<void> | undefined;

  constructor(
    private readonly engines: EngineCatalog,
    private readonly fleet: Pick<FleetStatus, 'engineLoad'>,
    private readonly options: { maxAgeMs?: number; now?: () => number } = {},
  ) {}

  /** The `{"data": [...]}` JSON of GET /engines. */
  async json(): Promise<string> {
    if (this.#body === undefined) {
      await this.refresh();
    } else if (this.#now() - this.#builtAt >= (this.options.maxAgeMs ?? 1000)) {
      void this.refresh();
    }
    return this.#body ?? this.#build(new Map());
  }

  /** Rebuilds the list from the fleet's current state (one refresh at a time). */
  refresh(): Promise<void> {
    this.#refreshing ??= (async () => {
      try {
        // A database hiccup keeps the last numbers (or none) rather than failing GET /engines.
        const load = await this.fleet.engineLoad().catch(() => undefined);
        if (load || this.#body === undefined) this.#body = this.#build(load ?? new Map());
        this.#builtAt = this.#now();
      } finally {
        this.#refreshing = undefined;
      }
    })();
    return this.#refreshing;
  }

  #build(load: ReadonlyMap<string, EngineLoad>): string {
    return JSON.stringify({ data: this.engines.list().map((engine) => engineView(engine, this.engines.styles(), load.get(engine.id))) });
  }

  #now(): number {
    return (this.options.now ?? Date.now)();
  }
}
