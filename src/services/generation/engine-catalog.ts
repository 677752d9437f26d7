/**
 * The engines this process knows: the resolved registry (engine-registry.ts), looked up by id or alias. Everything
 * here comes from the registry and the models' manifests, read once at start-up without creating a session, so the
 * API process never loads a model to describe one or to check a request.
 */
import { applyStyle, STYLE_PRESETS } from '../../engine/index.ts';
import type { DeviceName } from '../../domain/devices.ts';
import { AppError } from '../../domain/errors.ts';
import type { Engine } from './engine-registry.ts';

export type { Engine, EngineModel } from './engine-registry.ts';
export { canonicalSampler, SAMPLER_ALIASES } from './engine-registry.ts';

/** A model a worker loads: its folder on a device (engines sharing both share one loaded model). */
export interface ModelTarget {
  dir: string;
  device: DeviceName;
}

export class EngineCatalog {
  readonly #byId = new Map<string, Engine>();

  constructor(private readonly engines: readonly Engine[]) {
    for (const engine of engines) {
      for (const id of [engine.id, ...engine.aliases]) this.#byId.set(id, engine);
    }
  }

  list(): readonly Engine[] {
    return this.engines;
  }

  /** Canonical ids, in registry order. */
  ids(): string[] {
    return this.engines.map((e) => e.id);
  }

  /** Every id a request may name: canonical ids and aliases. */
  acceptedIds(): string[] {
    return [...this.#byId.keys()];
  }

  /** The engine for an id or alias. */
  find(id: string): Engine | undefined {
    return this.#byId.get(id);
  }

  require(id: string): Engine {
    const engine = this.find(id);
    if (!engine) throw new AppError('not_found', `Engine ${id} not found.`);
    return engine;
  }

  /** The style presets requests may name (the engine library's; the same for every engine today). */
  styles(): readonly string[] {
    return STYLE_PRESETS;
  }

  /** Each style preset's prompt and negative prompt, with `{prompt}` where the request's prompt goes (A1111's form). */
  styleTemplates(): { name: string; prompt: string; negativePrompt: string }[] {
    return STYLE_PRESETS.map((name) => {
      const { positive, negative } = applyStyle(name, '{prompt}', '');
      return { name, prompt: positive, negativePrompt: negative };
    });
  }

  /** Each distinct model folder and device the engines need, with the engines on it. */
  models(): { target: ModelTarget; engines: Engine[] }[] {
    const byKey = new Map<string, { target: ModelTarget; engines: Engine[] }>();
    for (const engine of this.engines) {
      const key = `${engine.model.dir}\u0000${engine.device}`;
      const found = byKey.get(key);
      if (found) found.engines.push(engine);
      else byKey.set(key, { target: { dir: engine.model.dir, device: engine.device }, engines: [engine] });
    }
    return [...byKey.values()];
  }
}

/** Where an engine's model runs: its folder on its device. */
export function modelTarget(engine: Engine): ModelTarget {
  return { dir: engine.model.dir, device: engine.device };
}
