/**
 * Model manifest from files alone (docs/engine-reference.md §2.1, §2.4, §2.5): folders present, JSON configs and each ONNX file's
 * declared graph inputs/outputs (read by onnx-metadata.ts, never by creating a session). This is the one place that
 * detects the family and the defaults; loadModel() builds on it and only checks that the sessions agree.
 */
import { stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { EngineError } from '../errors.ts';
import type { TensorInfo } from '../runtime/tensor.ts';
import { samplerFromConfig } from '../schedulers/index.ts';
import { SAMPLER_NAMES, type PredictionType, type SamplerName, type SchedulerConfig } from '../schedulers/types.ts';
import { ClipTokenizer } from '../tokenizer/clip-tokenizer.ts';
import { describePath, isDirectory, isFile, readJsonObject, requireFile } from './files.ts';
import { checkDimensions, describeTextEncoder, describeUnet, findTensor, floatType, requireTensor, staticDim } from './inspect.ts';
import { LCM_DEFAULTS } from '../schedulers/lcm.ts';
import { readOnnxMetadata } from './onnx-metadata.ts';
import { MODEL_FAMILIES, type ComponentManifest, type ComponentName, type ModelFamily, type ModelManifest } from './types.ts';

export interface InspectOptions {
  /**
   * Use this family instead of the detected one (the Turbo families cannot be detected). It must fit the files:
   * sdxl/sdxl-turbo need an SDXL folder, lcm an LCM UNet.
   */
  family?: ModelFamily;
}

/** What the loader needs besides the manifest: parsed configs and tokenizers, so nothing is read twice. */
export interface ModelInspection {
  manifest: ModelManifest;
  isXL: boolean;
  encoderNames: Array<'text_encoder' | 'text_encoder_2'>;
  tokenizers: ClipTokenizer[];
  schedulerConfig: SchedulerConfig;
  unetConfig: Record<string, unknown> | undefined;
  scalingFactor: number;
  forceZerosForEmptyPrompt: boolean;
  /** Absolute path of each component's model.onnx. */
  paths: Partial<Record<ComponentName, string>>;
}

interface FamilyDefaults {
  size: number;
  steps: number;
  cfg: number;
}

// diffusers pipeline defaults and hub sample sizes (docs/engine-reference.md §2.4); Turbo: 1–4 steps without CFG (§4.5).
const FAMILY_DEFAULTS: Record<ModelFamily, FamilyDefaults> = {
  sd1: { size: 512, steps: 50, cfg: 7.5 },
  sd2: { size: 512, steps: 50, cfg: 7.5 },
  'sd2-v': { size: 768, steps: 50, cfg: 7.5 },
  sdxl: { size: 1024, steps: 50, cfg: 5.0 },
  lcm: { size: 512, steps: 4, cfg: 8.5 },
  'sd-turbo': { size: 512, steps: 4, cfg: 0 },
  'sdxl-turbo': { size: 512, steps: 4, cfg: 0 },
};

/**
 * The manifest of a model folder, without creating any ONNX Runtime session.
 * @throws {EngineError} `model_not_found` for a missing folder, `model_invalid` naming the file for a broken one,
 *   `invalid_argument` for a `family` that does not fit the files
 */
export async function inspectModel(dir: string, options: InspectOptions = {}): Promise<ModelManifest> {
  return (await inspectModelFolder(dir, options)).manifest;
}

export async function inspectModelFolder(dirArg: string, options: InspectOptions = {}): Promise<ModelInspection> {
  const dir = resolve(dirArg);
  if (!isDirectory(dir)) throw new EngineError('model_not_found', `Cannot open model: folder not found, got ${dirArg}`);
  if (options.family !== undefined && !MODEL_FAMILIES.includes(options.family)) {
    throw new EngineError('invalid_argument', `Cannot inspect ${dirArg}: family must be one of ${MODEL_FAMILIES.join(', ')}, got ${String(options.family)}`);
  }

  const modelIndex = readJsonObject(dir, ['model_index.json'], true) ?? {};
  const schedulerConfig = readJsonObject(dir, ['scheduler', 'scheduler_config.json'], true) as SchedulerConfig;
  const isXL = isDirectory(join(dir, 'text_encoder_2')) || Array.isArray(modelIndex.text_encoder_2);
  const encoderNames: ModelInspection['encoderNames'] = isXL ? ['text_encoder', 'text_encoder_2'] : ['text_encoder'];
  const tokenizerNames = isXL ? ['tokenizer', 'tokenizer_2'] : ['tokenizer'];

  const paths: ModelInspection['paths'] = {};
  for (const name of encoderNames) paths[name] = requireFile(dir, name, 'model.onnx');
  for (const name of tokenizerNames) {
    requireFile(dir, name, 'vocab.json');
    requireFile(dir, name, 'merges.txt');
  }
  paths.unet = requireFile(dir, 'unet', 'model.onnx');
  paths.vae_decoder = requireFile(dir, 'vae_decoder', 'model.onnx');
  for (const name of ['vae_encoder', 'vae_approx'] as const) {
    if (isFile(join(dir, name, 'model.onnx'))) paths[name] = join(dir, name, 'model.onnx');
  }
  const unetConfig = readJsonObject(dir, ['unet', 'config.json'], false);
  const vaeConfig = readJsonObject(dir, ['vae_decoder', 'config.json'], false);
  const tokenizers = await Promise.all(tokenizerNames.map((name) => loadTokenizer(dir, name)));

  const entries = Object.entries(paths) as Array<[ComponentName, string]>;
  const components = await Promise.all(entries.map(([name, path]) => readComponent(dir, name, path)));
  const component = (name: ComponentName): ComponentManifest | undefined => components.find((c) => c.name === name);
  const io = (name: ComponentName): ComponentManifest => component(name) as ComponentManifest;

  const encoders = encoderNames.map((name, i) => describeTextEncoder(name, io(name).inputs, io(name).outputs, isXL, i === encoderNames.length - 1));
  const unet = describeUnet(io('unet').inputs, io('unet').outputs, 'unet/model.onnx', unetConfig);
  if (isXL && !unet.sdxl) {
    throw new EngineError('model_invalid', 'unet/model.onnx lacks the SDXL inputs text_embeds/time_ids although text_encoder_2 exists');
  }
  if (!isXL && unet.sdxl) {
    throw new EngineError('model_invalid', 'unet/model.onnx expects SDXL inputs (text_embeds/time_ids) but text_encoder_2 is missing');
  }
  checkDimensions(encoders, unet);
  const decoder = io('vae_decoder');
  floatType(requireTensor(decoder.inputs, 'latent_sample', 'vae_decoder/model.onnx', 'input'), 'vae_decoder/model.onnx');
  requireTensor(decoder.outputs, 'sample', 'vae_decoder/model.onnx', 'output');

  const predictionType: PredictionType = schedulerConfig.prediction_type ?? 'epsilon';
  if (!['epsilon', 'v_prediction', 'sample'].includes(predictionType)) {
    throw new EngineError('model_invalid', `scheduler/scheduler_config.json: unknown prediction_type ${JSON.stringify(predictionType)}`);
  }
  // SD2 lineage: OpenCLIP width 1024, or (for models of other widths) the "!" padding of SD2 tokenizers.
  const sd2Lineage = unet.crossAttentionDim === 1024 || tokenizers[0].padId !== tokenizers[0].eosId;
  const detected: ModelFamily = unet.lcm ? 'lcm' : isXL ? 'sdxl' : sd2Lineage ? (predictionType === 'v_prediction' ? 'sd2-v' : 'sd2') : 'sd1';
  const family = options.family ?? detected;
  if (options.family !== undefined) checkFamilyFits(dirArg, options.family, detected, isXL, unet.lcm !== undefined);

  const vaeScaleFactor = vaeScale(vaeConfig);
  const defaults = FAMILY_DEFAULTS[family];
  const sampleSize = unetConfig?.sample_size;
  const native = typeof sampleSize === 'number' && sampleSize > 0 ? sampleSize * vaeScaleFactor : defaults.size;
  const samplers: SamplerName[] = family === 'lcm' ? ['lcm'] : SAMPLER_NAMES.filter((s) => s !== 'lcm');
  const fromConfig = defaultSampler(schedulerConfig);
  const sample = requireTensor(io('unet').inputs, 'sample', 'unet/model.onnx', 'input');
  const unetChannels = staticDim(sample, 1) ?? (typeof unetConfig?.in_channels === 'number' ? unetConfig.in_channels : 4);

  const manifest: ModelManifest = {
    dir,
    family,
    predictionType,
    nativeWidth: native,
    nativeHeight: native,
    vaeScaleFactor,
    // Each down block but the last halves the latents; a traced UNet export needs sizes that survive every halving.
    // Family default when the config does not say: SD1/SD2 have 4 down blocks (64 px), SDXL 3 (32 px).
    latentMultiple: vaeScaleFactor * 2 ** ((downBlocks(unetConfig) ?? (isXL ? 3 : 4)) - 1),
    samplers,
    defaultSampler: samplers.includes(fromConfig) ? fromConfig : samplers[0],
    defaultSteps: defaults.steps,
    defaultCfg: defaults.cfg,
    inpaintUnet: unetChannels === 9,
    previewModel: component('vae_approx') !== undefined,
    sizeBytes: components.filter((c) => c.name !== 'vae_encoder').reduce((a, c) => a + c.bytes, 0),
    components,
  };
  if (samplers.includes('lcm')) {
    const original = schedulerConfig.original_inference_steps;
    manifest.originalInferenceSteps = typeof original === 'number' && Number.isInteger(original) && original >= 1 ? original : LCM_DEFAULTS.original_inference_steps;
  }
  const encoder = component('vae_encoder');
  if (encoder) manifest.vaeEncoder = vaeEncoderOutput(encoder.outputs);
  const approx = component('vae_approx');
  if (approx) checkVaeApprox(approx);
  return {
    manifest,
    isXL,
    encoderNames,
    tokenizers,
    schedulerConfig,
    unetConfig,
    scalingFactor: scalingFactor(vaeConfig, isXL),
    forceZerosForEmptyPrompt: isXL && modelIndex.force_zeros_for_empty_prompt !== false,
    paths,
  };
}

async function readComponent(dir: string, name: ComponentName, path: string): Promise<ComponentManifest> {
  const file = `${name}/model.onnx`;
  const meta = await readOnnxMetadata(path, file);
  let bytes = (await stat(path)).size;
  for (const location of meta.externalData) {
    const dataPath = join(dirname(path), location);
    if (!isFile(dataPath)) {
      throw new EngineError('model_invalid', `Cannot load ${file}: its external data file ${describePath(dir, dataPath)} is missing`);
    }
    bytes += (await stat(dataPath)).size;
  }
  return { name, file, bytes, inputs: meta.inputs, outputs: meta.outputs };
}

async function loadTokenizer(dir: string, name: string): Promise<ClipTokenizer> {
  try {
    return await ClipTokenizer.fromDirectory(join(dir, name));
  } catch (err) {
    if (err instanceof EngineError) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    throw new EngineError('model_invalid', `Cannot read the tokenizer in ${describePath(dir, join(dir, name))}: ${reason}`, {
      cause: err,
    });
  }
}

function checkFamilyFits(dir: string, family: ModelFamily, detected: ModelFamily, isXL: boolean, lcm: boolean): void {
  const fits = family === 'lcm' ? lcm : !lcm && (family === 'sdxl' || family === 'sdxl-turbo') === isXL;
  if (!fits) {
    throw new EngineError('invalid_argument', `Cannot use family ${family} for ${dir}: its files describe an ${detected} model`);
  }
}

/** Number of UNet down blocks from unet/config.json (down_block_types, else block_out_channels). */
function downBlocks(config: Record<string, unknown> | undefined): number | undefined {
  for (const key of ['down_block_types', 'block_out_channels']) {
    const value = config?.[key];
    if (value === undefined) continue;
    if (!Array.isArray(value) || value.length === 0) {
      throw new EngineError('model_invalid', `Cannot read unet/config.json: ${key} must be a non-empty list, got ${JSON.stringify(value)}`);
    }
    return value.length;
  }
  return undefined;
}

/** diffusers' vae_scale_factor = 2^(len(block_out_channels) − 1); 8 when the config does not say. */
function vaeScale(config: Record<string, unknown> | undefined): number {
  const channels = config?.block_out_channels;
  if (channels === undefined) return 8;
  if (!Array.isArray(channels) || channels.length === 0) {
    throw new EngineError('model_invalid', `Cannot read vae_decoder/config.json: block_out_channels must be a non-empty list, got ${JSON.stringify(channels)}`);
  }
  return 2 ** (channels.length - 1);
}

function scalingFactor(vaeConfig: Record<string, unknown> | undefined, isXL: boolean): number {
  const value = vaeConfig?.scaling_factor;
  if (value === undefined) return isXL ? 0.13025 : 0.18215;
  if (typeof value !== 'number' || !(value > 0)) {
    throw new EngineError('model_invalid', `vae_decoder/config.json: scaling_factor must be a positive number, got ${JSON.stringify(value)}`);
  }
  return value;
}

function defaultSampler(config: SchedulerConfig): SamplerName {
  try {
    return samplerFromConfig(config);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new EngineError('model_invalid', `scheduler/scheduler_config.json: ${reason}`, { cause: err });
  }
}

function vaeEncoderOutput(outputs: readonly TensorInfo[]): 'latent_sample' | 'latent_parameters' {
  if (findTensor(outputs, 'latent_parameters')) return 'latent_parameters';
  requireTensor(outputs, 'latent_sample', 'vae_encoder/model.onnx', 'output');
  return 'latent_sample';
}

/** The preview decoder contract (docs/models.md): one float input [1, 4, h, w], first output [1, 3, H, W]. */
function checkVaeApprox(approx: ComponentManifest): void {
  const input = approx.inputs[0];
  const output = approx.outputs[0];
  const fourD = (t: TensorInfo | undefined, channels: number): boolean =>
    t !== undefined && t.shape.length === 4 && (typeof t.shape[1] !== 'number' || t.shape[1] === channels);
  if (approx.inputs.length !== 1 || !fourD(input, 4) || !fourD(output, 3)) {
    const got = `inputs ${approx.inputs.map((t) => `${t.name} [${t.shape.join(', ')}]`).join(', ') || 'none'}, outputs ${
      approx.outputs.map((t) => `${t.name} [${t.shape.join(', ')}]`).join(', ') || 'none'
    }`;
    throw new EngineError('model_invalid', `Cannot use vae_approx/model.onnx: expected one input [1, 4, h, w] and an output [1, 3, H, W], got ${got}`);
  }
  floatType(input, 'vae_approx/model.onnx');
}
