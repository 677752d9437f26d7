/**
 * The engine registry: which engine ids the service offers, the model folder behind each, and what requests for it
 * may ask. It comes from a JSON file (SDAPI_ENGINES / --engines), checked against EngineRegistryFileSchema, or is the
 * default registry on SDAPI_MODEL_DIR. Every field but `id` and `model` defaults from the model's family, read from
 * the folder with inspectModel() (configs and ONNX metadata, never a session). Every problem is collected and
 * thrown at once as a StartupError, one line each, naming the file and the engine.
 */
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value';
import { inspectModel, MODEL_FAMILIES, type ModelFamily, type ModelManifest, type SamplerName } from '../../engine/index.ts';
import { DEVICE_PATTERN, type DeviceName } from '../../domain/devices.ts';
import { StartupError } from '../../domain/errors.ts';
import { CFG_SCALE_MAX, STEPS_MAX } from '../../domain/generation-request.ts';
import { FAMILY_LABELS, FAMILY_PRESETS, nativeResolutions, SD15_RESOLUTIONS, SDXL_RESOLUTIONS, type NumberRange } from './family-presets.ts';

const ID = { pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$', description: 'Letters, digits, ".", "_" and "-", at most 100 characters' };
/** Sides of an offered resolution, in pixels. */
const SIDE_MIN = 8;
const SIDE_MAX = 8192;

const rangeSchema = (number: typeof Type.Integer | typeof Type.Number, min: number, max: number, what: string) =>
  Type.Object(
    {
      min: Type.Optional(number({ minimum: min, maximum: max })),
      max: Type.Optional(number({ minimum: min, maximum: max })),
      default: Type.Optional(number({ minimum: min, maximum: max })),
    },
    { additionalProperties: false, description: `${what}; each bound defaults from the family` },
  );

export const EngineEntrySchema = Type.Object(
  {
    id: Type.String(ID),
    model: Type.String({ minLength: 1, maxLength: 4096, description: 'Model folder, relative to the registry file’s folder or absolute' }),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    description: Type.Optional(Type.String({ maxLength: 2000 })),
    family: Type.Optional(Type.Union(MODEL_FAMILIES.map((family) => Type.Literal(family)), { description: 'Detected from the folder unless set; Turbo models need it' })),
    steps: Type.Optional(rangeSchema(Type.Integer, 1, STEPS_MAX, 'Denoising steps a request may ask')),
    cfg_scale: Type.Optional(rangeSchema(Type.Number, 0, CFG_SCALE_MAX, 'Guidance scale a request may ask')),
    resolutions: Type.Optional(Type.Array(Type.String({ pattern: '^\\d{1,5}x\\d{1,5}$' }), { minItems: 1, maxItems: 100, description: 'WIDTHxHEIGHT sizes offered' })),
    aliases: Type.Optional(Type.Array(Type.String(ID), { maxItems: 20, description: 'Further ids of this engine' })),
    upscale: Type.Optional(Type.Boolean({ description: 'Generate at the native area in the requested aspect ratio, then resize to the requested size' })),
    device: Type.Optional(Type.String({ pattern: DEVICE_PATTERN, description: 'cpu, cuda or cuda:N; default: the process’s device' })),
    samplers: Type.Optional(Type.Array(Type.String({ maxLength: 50 }), { minItems: 1, maxItems: 20, description: 'A subset of the model’s samplers' })),
    default_sampler: Type.Optional(Type.String({ maxLength: 50 })),
  },
  { additionalProperties: false },
);

export const EngineRegistryFileSchema = Type.Object({ engines: Type.Array(EngineEntrySchema, { minItems: 1, maxItems: 1000 }) }, { additionalProperties: false });

export type EngineEntry = Static<typeof EngineEntrySchema>;
export type EngineRegistryFile = Static<typeof EngineRegistryFileSchema>;

/** Stability v1 sampler names accepted as aliases of ours. */
export const SAMPLER_ALIASES: Readonly<Record<string, string>> = {
  K_EULER: 'euler',
  K_EULER_ANCESTRAL: 'euler_a',
  DDIM: 'ddim',
  K_DPMPP_2M: 'dpmpp_2m',
};

/** Our sampler name for a requested one (a Stability alias or ours). */
export function canonicalSampler(name: string): string {
  return SAMPLER_ALIASES[name] ?? name;
}

/** What an engine's model folder tells the service (from the manifest, without a session). */
export interface EngineModel {
  /** Absolute folder. */
  dir: string;
  /** The folder's name: the model name in GET /engines and in each PNG's parameters. */
  name: string;
  family: ModelFamily;
  nativeWidth: number;
  nativeHeight: number;
  vaeScaleFactor: number;
  latentMultiple: number;
  /** The scheduler the folder's config names. */
  defaultSampler: SamplerName;
  sizeBytes: number;
  /** The folder has vae_encoder/model.onnx: image-to-image and inpainting can run. */
  imageInput: boolean;
  /** The UNet is a 9-channel inpainting UNet: every request needs an init image and a mask. */
  inpaintUnet: boolean;
  /** LCM models: `original_inference_steps` (how many steps an image-to-image strength leaves, see denoisingSteps()). */
  originalInferenceSteps?: number;
}

/** An engine, every default filled and checked against its model. */
export interface Engine {
  id: string;
  aliases: string[];
  name: string;
  description: string;
  model: EngineModel;
  resolutions: string[];
  steps: NumberRange;
  cfg: NumberRange;
  samplers: SamplerName[];
  defaultSampler: SamplerName;
  /** Generate at the native area and resize to the requested size; otherwise every size is generated as asked. */
  upscale: boolean;
  /** The device the engine asks for (its own, else the process's); a worker may end up on the CPU instead. */
  device: DeviceName;
}

/** Where registry entries come from: the prefix of every problem line, and the folder relative models resolve against. */
export interface RegistrySource {
  label: string;
  baseDir: string;
  /** The entries that match the schema. */
  entries: EngineEntry[];
  /** What is wrong with the others (and with the file as a whole). */
  problems?: string[];
}

export interface LoadEnginesOptions {
  /** The registry file; absent: the default registry on `defaultModelDir`. */
  file?: string;
  defaultModelDir: string;
  /** True when `defaultModelDir` is the bundled demo model (its engines then say so). */
  demo: boolean;
  /** The process's device (SDAPI_DEVICE / --device), for engines that name none. */
  device: DeviceName;
}

/** The registry's engines, resolved and checked. @throws {StartupError} every problem, one line each */
export async function loadEngines(options: LoadEnginesOptions): Promise<Engine[]> {
  return resolveEngines(await registrySource(options), { device: options.device });
}

/** The registry file's entries, or the default registry's. @throws {StartupError} for a file that cannot be read or is not JSON */
export function registrySource(options: Pick<LoadEnginesOptions, 'file' | 'defaultModelDir' | 'demo'>): Promise<RegistrySource> {
  return options.file ? readRegistryFile(options.file) : defaultRegistry(options.defaultModelDir, options.demo);
}

/** Reads and schema-checks a registry file. @throws {StartupError} for a file that cannot be read or is not JSON */
export async function readRegistryFile(file: string): Promise<RegistrySource> {
  const path = resolve(file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new StartupError([`${path}: cannot read the engine registry (${code === 'ENOENT' ? 'no such file' : (code ?? String(err))})`]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new StartupError([`${path}: the engine registry is not valid JSON (${err instanceof Error ? err.message : String(err)})`]);
  }
  return { label: path, baseDir: dirname(path), ...checkRegistryShape(json, path) };
}

/**
 * The entries of a parsed registry that match EngineEntrySchema, and one problem per schema error of the others
 * (unknown keys by name), so that one run reports everything wrong with the file.
 */
export function checkRegistryShape(json: unknown, label: string): { entries: EngineEntry[]; problems: string[] } {
  if (Value.Check(EngineRegistryFileSchema, json)) return { entries: json.engines, problems: [] };
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const error of Value.Errors(EngineRegistryFileSchema, json)) {
    // The first error per field (a union reports its branches too); every unknown key.
    if (seen.has(error.path) && error.type !== ValueErrorType.ObjectAdditionalProperties) continue;
    seen.add(error.path);
    problems.push(`${label}: ${describeSchemaError(error, json)}`);
  }
  const list: unknown = typeof json === 'object' && json !== null ? Reflect.get(json, 'engines') : undefined;
  const entries = Array.isArray(list) ? list.filter((entry): entry is EngineEntry => Value.Check(EngineEntrySchema, entry)) : [];
  return { entries, problems: problems.length > 0 ? problems : [`${label}: the engine registry does not match its schema`] };
}

/** `/engines/1/steps/min` → `engine "sdxl-turbo" (engines[1]): steps.min …`. */
function describeSchemaError(error: ValueError, json: unknown): string {
  const parts = error.path.split('/').slice(1);
  let where = '';
  let field = parts;
  if (parts[0] === 'engines' && parts.length >= 2 && /^\d+$/.test(parts[1])) {
    const entry: unknown = Array.isArray(Reflect.get(Object(json), 'engines')) ? Reflect.get(Reflect.get(Object(json), 'engines'), Number(parts[1])) : undefined;
    const id: unknown = typeof entry === 'object' && entry !== null ? Reflect.get(entry, 'id') : undefined;
    where = `${typeof id === 'string' ? `engine ${JSON.stringify(id)} ` : ''}(engines[${parts[1]}])`;
    field = parts.slice(2);
  }
  const name = field.map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`)).join('').replace(/^\./, '');
  const prefix = where ? `${where}: ` : '';
  const got = error.value === undefined ? '' : `, got ${JSON.stringify(error.value)}`;
  switch (error.type) {
    case ValueErrorType.ObjectAdditionalProperties:
      return `${prefix}unknown key ${JSON.stringify(field.at(-1) ?? name)}${field.length > 1 ? ` in ${field.slice(0, -1).join('.')}` : ''}`;
    case ValueErrorType.ObjectRequiredProperty:
      return `${prefix}${name || 'the file'} is required`;
    case ValueErrorType.Union:
      return name === 'family' ? `${prefix}family must be one of ${MODEL_FAMILIES.join(', ')}${got}` : `${prefix}${name} is invalid${got}`;
    case ValueErrorType.StringPattern:
      if (name === 'device') return `${prefix}device must be cpu, cuda or cuda:N${got}`;
      if (name.startsWith('resolutions')) return `${prefix}${name} must look like WIDTHxHEIGHT${got}`;
      if (name === 'id' || name.startsWith('aliases')) return `${prefix}${name} may contain only letters, digits, ".", "_" and "-" (at most 100)${got}`;
      return `${prefix}${name} is invalid${got}`;
    default:
      return `${prefix}${name || 'the registry'}: ${error.message.replace(/^Expected/, 'expected')}${got}`;
  }
}

/**
 * The registry a fresh install serves, all on one model folder: the tutorial's three engine ids (the SDXL sizes
 * for the two XL ids, the 512-class sizes for v1-6), upscaled from the model's native size, and the model's own
 * engine at its native sizes.
 */
export async function defaultRegistry(modelDir: string, demo: boolean): Promise<RegistrySource> {
  const dir = resolve(modelDir);
  const label = `default engines (SDAPI_MODEL_DIR=${dir})`;
  // The native engine's sizes come from the manifest; a folder that cannot be read is reported by resolveEngines().
  const manifest = await inspectModel(dir).catch(() => undefined);
  const served = demo ? 'served by the sdapi demo model (coloured shapes)' : `served by the model ${basename(dir)}`;
  const tutorial = (id: string, name: string, resolutions: string[]): EngineEntry => ({
    id,
    model: dir,
    // The demo model is not what these ids name: the listing (and the playground) says so.
    name: demo ? `${name} sizes — sdapi demo model` : name,
    description: `Tutorial id, ${served}: ${name} sizes, generated at the model's native size and upscaled.`,
    resolutions,
    upscale: true,
  });
  const native: EngineEntry = {
    id: 'sdapi-demo-shapes',
    model: dir,
    name: demo ? 'sdapi demo — coloured shapes' : `${basename(dir)} at its native sizes`,
    description: demo
      ? 'A small demo model trained for sdapi: it draws simple shapes in named colours ("a red circle on a blue background"), at its native sizes.'
      : `The model ${basename(dir)} at its native size and aspect ratios of the same area, without upscaling.`,
  };
  if (manifest) native.resolutions = nativeResolutions(manifest);
  return {
    label,
    baseDir: dir,
    entries: [
      tutorial('stable-diffusion-xl-1024-v1-0', 'Stable Diffusion XL 1.0', SDXL_RESOLUTIONS),
      tutorial('stable-diffusion-xl-1024-v0-9', 'Stable Diffusion XL 0.9', SDXL_RESOLUTIONS),
      tutorial('stable-diffusion-v1-6', 'Stable Diffusion 1.6', SD15_RESOLUTIONS),
      native,
    ],
  };
}

/**
 * Fills every entry's defaults from its model and checks the result: unique ids and aliases, readable model
 * folders, ranges in order with their default inside, resolutions the model can generate, samplers it has.
 * @throws {StartupError} every problem, one line each
 */
export async function resolveEngines(source: RegistrySource, options: { device: DeviceName }): Promise<Engine[]> {
  const { engines, problems } = await checkEngines(source, options);
  if (problems.length > 0) throw new StartupError(problems);
  return engines;
}

/** resolveEngines() without the throw: the engines that resolved and every problem found (`sdapi engines check`). */
export async function checkEngines(source: RegistrySource, options: { device: DeviceName }): Promise<{ engines: Engine[]; problems: string[] }> {
  const problems: string[] = [...(source.problems ?? [])];
  const fail = (entry: EngineEntry, what: string) => problems.push(`${source.label}: engine ${JSON.stringify(entry.id)}: ${what}`);

  const owners = new Map<string, string>();
  for (const entry of source.entries) {
    for (const id of [entry.id, ...(entry.aliases ?? [])]) {
      const owner = owners.get(id);
      if (owner === undefined) owners.set(id, entry.id);
      else fail(entry, owner === entry.id ? `id ${JSON.stringify(id)} is listed twice` : `id ${JSON.stringify(id)} is already used by engine ${JSON.stringify(owner)}`);
    }
  }

  // One inspection per (folder, family): several engines may share a model.
  const manifests = new Map<string, Promise<ModelManifest>>();
  const inspect = (dir: string, family: ModelFamily | undefined): Promise<ModelManifest> => {
    const key = `${dir}\u0000${family ?? ''}`;
    let pending = manifests.get(key);
    if (!pending) manifests.set(key, (pending = inspectModel(dir, { family })));
    return pending;
  };

  const engines: Engine[] = [];
  // A broken folder is one problem, however many engines use it.
  const broken = new Map<string, { ids: string[]; reason: string; at: number }>();
  for (const entry of source.entries) {
    const dir = resolve(source.baseDir, entry.model);
    let manifest: ModelManifest;
    try {
      manifest = await inspect(dir, entry.family);
    } catch (err) {
      const reason = `model ${dir}: ${err instanceof Error ? err.message : String(err)}`;
      const known = broken.get(reason);
      if (known) known.ids.push(entry.id);
      else broken.set(reason, { ids: [entry.id], reason, at: problems.push('') - 1 });
      continue;
    }
    const engine = resolveEntry(entry, manifest, options.device, (what) => fail(entry, what));
    if (engine) engines.push(engine);
  }
  for (const { ids, reason, at } of broken.values()) {
    problems[at] = `${source.label}: engine${ids.length > 1 ? 's' : ''} ${ids.map((id) => JSON.stringify(id)).join(', ')}: ${reason}`;
  }
  return { engines, problems };
}

function resolveEntry(entry: EngineEntry, manifest: ModelManifest, processDevice: DeviceName, fail: (what: string) => void): Engine | undefined {
  let failed = false;
  const problem = (what: string) => {
    failed = true;
    fail(what);
  };
  const family = manifest.family;
  const preset = FAMILY_PRESETS[family];
  const steps = { ...preset.steps, ...entry.steps };
  const cfg = { ...preset.cfg, ...entry.cfg_scale };
  for (const [name, range] of [['steps', steps], ['cfg_scale', cfg]] as const) {
    if (range.min > range.max) problem(`${name} range is inverted: min ${range.min} > max ${range.max}`);
    else if (range.default < range.min || range.default > range.max) problem(`${name}.default ${range.default} is outside ${name} ${range.min}–${range.max}`);
  }

  const upscale = entry.upscale ?? false;
  const resolutions = entry.resolutions ?? [...preset.resolutions];
  const m = manifest.latentMultiple;
  for (const text of resolutions) {
    const [width, height] = text.split('x').map(Number);
    if ([width, height].some((side) => side < SIDE_MIN || side > SIDE_MAX)) problem(`resolution ${text}: each side must be between ${SIDE_MIN} and ${SIDE_MAX} px`);
    else if (!upscale && (width % m !== 0 || height % m !== 0)) {
      problem(`resolution ${text} is not a multiple of ${m} px, the latent multiple of ${manifest.dir} (use sizes that are, or "upscale": true)`);
    }
  }
  if (new Set(resolutions).size !== resolutions.length) problem('resolutions lists a size twice');

  let samplers: SamplerName[] = [...manifest.samplers];
  if (entry.samplers) {
    const chosen: SamplerName[] = [];
    for (const requested of entry.samplers) {
      const name = canonicalSampler(requested);
      const known = manifest.samplers.find((s) => s === name);
      if (!known) problem(`sampler ${JSON.stringify(requested)} is not one of the model's: ${manifest.samplers.join(', ')}`);
      else if (!chosen.includes(known)) chosen.push(known);
    }
    samplers = chosen;
  }
  let defaultSampler = samplers.includes(manifest.defaultSampler) ? manifest.defaultSampler : samplers[0];
  if (entry.default_sampler !== undefined) {
    const name = canonicalSampler(entry.default_sampler);
    const known = samplers.find((s) => s === name);
    if (known) defaultSampler = known;
    else problem(`default_sampler ${JSON.stringify(entry.default_sampler)} is not one of the engine's samplers: ${samplers.join(', ')}`);
  }
  if (failed || defaultSampler === undefined) return undefined;

  const modelName = basename(manifest.dir);
  return {
    id: entry.id,
    aliases: entry.aliases ?? [],
    name: entry.name ?? entry.id,
    description: entry.description ?? `${FAMILY_LABELS[family]}, model ${modelName}${upscale ? ' (generated at its native size and upscaled)' : ''}.`,
    model: {
      dir: manifest.dir,
      name: modelName,
      family,
      nativeWidth: manifest.nativeWidth,
      nativeHeight: manifest.nativeHeight,
      vaeScaleFactor: manifest.vaeScaleFactor,
      latentMultiple: manifest.latentMultiple,
      defaultSampler: manifest.defaultSampler,
      sizeBytes: manifest.sizeBytes,
      imageInput: manifest.vaeEncoder !== undefined,
      inpaintUnet: manifest.inpaintUnet,
      ...(manifest.originalInferenceSteps === undefined ? {} : { originalInferenceSteps: manifest.originalInferenceSteps }),
    },
    resolutions,
    steps,
    cfg,
    samplers,
    defaultSampler,
    upscale,
    device: (entry.device as DeviceName | undefined) ?? processDevice, // the schema's pattern checked it
  };
}
