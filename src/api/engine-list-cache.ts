/**
 * GET /engines is a memory read: the list is serialised once and served as that string until the catalog's
 * revision changes (a model loaded or failed). While some model failed to load, the list is rebuilt at most every
 * `retryMs`, so a model that appears later (or a transient failure) shows up without a restart.
 */
import type { EngineCatalog } from '../services/generation/engine-catalog.ts';
import { engineView } from './views.ts';

export class EngineListCache {
  #body: string | undefined;
  #revision = -1;
  #complete = false;
  #builtAt = 0;

  constructor(
    private readonly engines: EngineCatalog,
    private readonly retryMs = 5000,
  ) {}

  /** The `{"data": [...]}` JSON of GET /engines. */
  async json(): Promise<string> {
    if (this.#body !== undefined && this.#revision === this.engines.revision && (this.#complete || Date.now() - this.#builtAt < this.retryMs)) {
      return this.#body;
    }
    const views = await this.engines.list();
    this.#body = JSON.stringify({ data: views.map(engineView) });
    this.#revision = this.engines.revision;
    this.#complete = views.every((v) => v.model !== null);
    this.#builtAt = Date.now();
    return this.#body;
  }
}
