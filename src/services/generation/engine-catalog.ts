/**
 * The engines the API offers: each id maps to a model folder (the embedded default model unless configured
 * otherwise) and carries its own rules (resolutions, step and cfg ranges); the samplers come from the model.
 * Resolutions, step range and presets follow Stability v1.
 */
import { basename } from 'node:path';
import { SAMPLER_NAMES, STYLE_PRESETS } from '../../engine/index.ts';
import { AppError } from '../../domain/errors.ts';
import type { ImageGenerator, ModelSummary } from './image-generator.ts';

export const SDXL_RESOLUTIONS = ['1024x1024', '1152x896', '1216x832', '1344x768', '1536x640', '640x1536', '768x1344', '832x1216', '896x1152'];
export const SD15_RESOLUTIONS = ['512x512', '512x768', '768x512', '576x448', '448x576', '640x384', '384x640', '704x384', '384x704'];

/** Stability v1 sampler names accepted as aliases of ours. */
export const SAMPLER_ALIASES: Readonly<Record<string, string>> = {
  K_EULER: 'euler',
  K_EULER_ANCESTRAL: 'euler_a',
  DDIM: 'ddim',
  K_DPMPP_2M: 'dpmpp_2m',
};

/** An engine's configuration: what requests for it may ask. */
export interface EngineDefinition {
  id: string;
  name: string;
  description: string;
  resolutions: string[];
  stepsMin: number;
  stepsMax: number;
  stepsDefault: number;
  cfgMin: number;
  cfgMax: number;
  cfgDefault: number;
  modelDir: string;
}

/** An engine with what its model adds: the model summary (or why it failed to load), samplers and styles. */
export interface EngineView extends EngineDefinition {
  model: ModelSummary | null;
  modelError: string | null;
  samplers: string[];
  styles: readonly string[];
}

export function defaultEngines(modelDir: string): EngineDefinition[] {
  const common = { stepsMin: 10, stepsMax: 150, stepsDefault: 50, cfgMin: 0, cfgMax: 35, cfgDefault: 7, modelDir };
  return [
    { id: 'stable-diffusion-xl-1024-v1-0', name: 'Stable Diffusion XL 1.0', description: 'SDXL 1.0 sizes, served by the embedded default model.', resolutions: SDXL_RESOLUTIONS, ...common },
    { id: 'stable-diffusion-xl-1024-v0-9', name: 'Stable Diffusion XL 0.9', description: 'Alias of SDXL 1.0 sizes, served by the embedded default model.', resolutions: SDXL_RESOLUTIONS, ...common },
    { id: 'stable-diffusion-v1-6', name: 'Stable Diffusion 1.6', description: '512-class sizes, served by the embedded default model.', resolutions: SD15_RESOLUTIONS, ...common },
  ];
}

export class EngineCatalog {
  readonly #models = new Map<string, Promise<ModelSummary>>();
  #revision = 0;

  constructor(
    private readonly engines: EngineDefinition[],
    private readonly generator: ImageGenerator,
  ) {}

  /** Grows whenever what list() returns may have changed (a model loaded or failed), so callers can cache views. */
  get revision(): number {
    return this.#revision;
  }

  ids(): string[] {
    return this.engines.map((e) => e.id);
  }

  find(id: string): EngineDefinition | undefined {
    return this.engines.find((e) => e.id === id);
  }

  require(id: string): EngineDefinition {
    const engine = this.find(id);
    if (!engine) throw new AppError('not_found', `Engine ${id} not found.`);
    return engine;
  }

  /** The style presets requests may name (the engine library's; the same for every engine today). */
  styles(): readonly string[] {
    return STYLE_PRESETS;
  }

  /** The model behind a folder, loaded once (a failed load is retried on the next call). */
  model(modelDir: string): Promise<ModelSummary> {
    let pending = this.#models.get(modelDir);
    if (!pending) {
      pending = this.generator.describe(modelDir);
      this.#models.set(modelDir, pending);
      pending.then(
        () => void (this.#revision += 1),
        () => {
          this.#models.delete(modelDir);
          this.#revision += 1;
        },
      );
    }
    return pending;
  }

  async list(): Promise<EngineView[]> {
    return Promise.all(this.engines.map((e) => this.view(e)));
  }

  async view(engine: EngineDefinition): Promise<EngineView> {
    let model: ModelSummary | null = null;
    let modelError: string | null = null;
    try {
      model = await this.model(engine.modelDir);
    } catch (err) {
      modelError = err instanceof Error ? err.message : String(err);
    }
    const samplers = model?.samplers.length ? model.samplers : [...SAMPLER_NAMES];
    return { ...engine, model, modelError, samplers, styles: STYLE_PRESETS };
  }
}

export function modelName(modelDir: string): string {
  return basename(modelDir);
}

/** Our sampler name for a requested one (a Stability alias or ours). */
export function canonicalSampler(name: string): string {
  return SAMPLER_ALIASES[name] ?? name;
}
