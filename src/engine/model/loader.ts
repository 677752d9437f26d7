/**
 * Loads a diffusers/optimum ONNX Stable Diffusion folder (docs/engine-reference.md §2.1, §2.5). Everything is detected
 * from the files and the sessions' declared inputs/outputs, so all three exporter generations load the same way. An
 * incomplete or inconsistent folder fails here, with EngineError('model_invalid') naming the file.
 */
import { resolve, join } from 'node:path';
import { EngineError } from '../errors.ts';
import { createSessionOpener, type ModelSession, type RuntimeOptions, type SessionOpener } from '../runtime/ort.ts';
import { ClipTokenizer } from '../tokenizer/clip-tokenizer.ts';
import { samplerFromConfig } from '../schedulers/index.ts';
import { SAMPLER_NAMES, type PredictionType, type SamplerName, type SchedulerConfig } from '../schedulers/types.ts';
import { describePath, isDirectory, readJsonObject, requireFile } from './files.ts';
import { describeUnet, findTensor, floatType, penultimateHiddenState, requireTensor, staticDim } from './inspect.ts';
import type { LoadedModel, ModelFamily, ModelInfo, TextEncoderModel, UnetModel, VaeModel } from './types.ts';

export interface LoadOptions extends RuntimeOptions {
  /** Test hook: opens (or wraps) sessions; defaults to onnxruntime-node with the runtime options. */
  openSession?: SessionOpener;
}

export async function loadModelFolder(dirArg: string, options: LoadOptions = {}): Promise<LoadedModel> {
  const dir = resolve(dirArg);
  if (!isDirectory(dir)) throw new EngineError('model_not_found', `Model folder not found: ${dirArg}`);

  const modelIndex = readJsonObject(dir, ['model_index.json'], true) ?? {};
  const schedulerConfig = readJsonObject(dir, ['scheduler', 'scheduler_config.json'], true) as SchedulerConfig;
  const isXL = isDirectory(join(dir, 'text_encoder_2')) || Array.isArray(modelIndex.text_encoder_2);
  const encoderNames = isXL ? ['text_encoder', 'text_encoder_2'] : ['text_encoder'];
  const tokenizerNames = isXL ? ['tokenizer', 'tokenizer_2'] : ['tokenizer'];

  // Check every file before the (slow) session creation, so a broken folder fails fast and clearly.
  const encoderPaths = encoderNames.map((name) => requireFile(dir, name, 'model.onnx'));
  for (const name of tokenizerNames) {
    requireFile(dir, name, 'vocab.json');
    requireFile(dir, name, 'merges.txt');
  }
  const unetPath = requireFile(dir, 'unet', 'model.onnx');
  const decoderPath = requireFile(dir, 'vae_decoder', 'model.onnx');
  const unetConfig = readJsonObject(dir, ['unet', 'config.json'], false);
  const vaeConfig = readJsonObject(dir, ['vae_decoder', 'config.json'], false);
  const tokenizers = await Promise.all(tokenizerNames.map((name) => loadTokenizer(dir, name)));

  const open = options.openSession ?? createSessionOpener(options);
  const opened: ModelSession[] = [];
  const openTracked = async (path: string): Promise<ModelSession> => {
    const session = await open(path);
    opened.push(session);
    return session;
  };
  const releaseAll = async (): Promise<void> => {
    await Promise.allSettled(opened.splice(0).map((s) => s.release()));
  };

  try {
    const textEncoders: TextEncoderModel[] = [];
    for (let i = 0; i < encoderNames.length; i++) {
      const session = await openTracked(encoderPaths[i]);
      textEncoders.push(describeTextEncoder(encoderNames[i], session, tokenizers[i], isXL, i === encoderNames.length - 1));
    }
    const unetSession = await openTracked(unetPath);
    const unet: UnetModel = {
      session: unetSession,
      ...describeUnet(unetSession.inputs, unetSession.outputs, 'unet/model.onnx', unetConfig),
    };
    if (isXL && !unet.sdxl) {
      throw new EngineError('model_invalid', 'unet/model.onnx lacks the SDXL inputs text_embeds/time_ids although text_encoder_2 exists');
    }
    if (!isXL && unet.sdxl) {
      throw new EngineError('model_invalid', 'unet/model.onnx expects SDXL inputs (text_embeds/time_ids) but text_encoder_2 is missing');
    }
    checkDimensions(textEncoders, unet);

    const decoder = await openTracked(decoderPath);
    const decoderInput = requireTensor(decoder.inputs, 'latent_sample', 'vae_decoder/model.onnx', 'input');
    requireTensor(decoder.outputs, 'sample', 'vae_decoder/model.onnx', 'output');
    const vae: VaeModel = {
      decoder,
      decoderInputType: floatType(decoderInput, 'vae_decoder/model.onnx'),
      scalingFactor: scalingFactor(vaeConfig, isXL),
    };

    const info = describeModel(schedulerConfig, unetConfig, unet, textEncoders, isXL);
    const forceZeros = modelIndex.force_zeros_for_empty_prompt;
    return {
      dir,
      info,
      schedulerConfig: legacySchedulerFixes(schedulerConfig, info.family, options.logger),
      textEncoders,
      unet,
      vae,
      forceZerosForEmptyPrompt: isXL && forceZeros !== false,
      sessions: () => [...opened],
      async loadVaeEncoder() {
        if (vae.encoder) return vae.encoder;
        const path = requireFile(dir, 'vae_encoder', 'model.onnx');
        const session = await openTracked(path);
        const output = findTensor(session.outputs, 'latent_parameters') ? 'latent_parameters' : 'latent_sample';
        requireTensor(session.outputs, output, 'vae_encoder/model.onnx', 'output');
        vae.encoder = { session, output };
        return vae.encoder;
      },
      dispose: releaseAll,
    };
  } catch (err) {
    await releaseAll();
    throw err;
  }
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

function describeTextEncoder(
  name: string,
  session: ModelSession,
  tokenizer: ClipTokenizer,
  isXL: boolean,
  isLast: boolean,
): TextEncoderModel {
  const where = `${name}/model.onnx`;
  const ids = requireTensor(session.inputs, 'input_ids', where, 'input');
  if (ids.type !== 'int32' && ids.type !== 'int64') {
    throw new EngineError('model_invalid', `${where}: input_ids has type ${ids.type}, expected int32 or int64`);
  }
  // SD1/SD2 condition on last_hidden_state (after the final layer norm); SDXL on the penultimate hidden state.
  const sequenceOutput = isXL ? penultimateHiddenState(session.outputs, where) : 'last_hidden_state';
  const sequence = requireTensor(session.outputs, sequenceOutput, where, 'output');
  const encoder: TextEncoderModel = {
    name,
    session,
    tokenizer,
    idsType: ids.type,
    sequenceOutput,
    hiddenSize: staticDim(sequence, 2),
  };
  if (isXL && isLast) {
    requireTensor(session.outputs, 'text_embeds', where, 'output');
    encoder.pooledOutput = 'text_embeds';
  }
  return encoder;
}

/** Encoder hidden size(s) must add up to the UNet's cross-attention width (SDXL concatenates both encoders). */
function checkDimensions(encoders: TextEncoderModel[], unet: UnetModel): void {
  const sizes = encoders.map((e) => e.hiddenSize);
  if (unet.crossAttentionDim !== undefined && sizes.every((s) => s !== undefined)) {
    const total = sizes.reduce((a: number, s) => a + (s ?? 0), 0);
    if (total !== unet.crossAttentionDim) {
      const detail = encoders.map((e) => `${e.name}/model.onnx ${e.sequenceOutput} width ${e.hiddenSize}`).join(' + ');
      throw new EngineError(
        'model_invalid',
        `Text encoder and UNet do not match: ${detail} != unet/model.onnx cross-attention dim ${unet.crossAttentionDim}`,
      );
    }
  }
  const pooled = encoders.find((e) => e.pooledOutput);
  if (pooled && unet.sdxl?.textEmbedsDim !== undefined) {
    const width = staticDim(findTensor(pooled.session.outputs, 'text_embeds'), 1);
    if (width !== undefined && width !== unet.sdxl.textEmbedsDim) {
      throw new EngineError(
        'model_invalid',
        `${pooled.name}/model.onnx text_embeds width ${width} != unet/model.onnx text_embeds width ${unet.sdxl.textEmbedsDim}`,
      );
    }
  }
}

/**
 * diffusers' StableDiffusionPipeline (and OnnxStableDiffusionPipeline) constructor rewrites outdated scheduler
 * configs with a deprecation warning: `steps_offset` != 1 becomes 1 and `clip_sample: true` becomes false. The
 * check reads the scheduler's resolved config, so a missing `steps_offset` (class default 0 for every scheduler
 * we build) is rewritten too. The SDXL and LCM pipelines do not do this, so their configs are used as written.
 * Doing it here, once, means every sampler built from the config (including a different one picked per request)
 * sees the corrected value, as with `from_config(pipe.scheduler.config)` in diffusers.
 */
export function legacySchedulerFixes(
  config: SchedulerConfig,
  family: ModelFamily,
  logger: ((message: string) => void) | undefined,
): SchedulerConfig {
  if (family !== 'sd1' && family !== 'sd2' && family !== 'turbo') return config;
  const fixed: SchedulerConfig = { ...config };
  const offset = config.steps_offset ?? 0;
  if (offset !== 1) {
    fixed.steps_offset = 1;
    logger?.(
      `scheduler/scheduler_config.json is outdated: steps_offset is ${JSON.stringify(config.steps_offset ?? null)}, using 1 as diffusers' Stable Diffusion pipelines do (please update the file)`,
    );
  }
  if (config.clip_sample === true) {
    fixed.clip_sample = false;
    logger?.('scheduler/scheduler_config.json has clip_sample: true, using false as diffusers\' Stable Diffusion pipelines do');
  }
  return fixed;
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

interface FamilyDefaults {
  size: number;
  steps: number;
  cfg: number;
}

// diffusers pipeline defaults and hub sample sizes (docs/engine-reference.md §2.4).
const FAMILY_DEFAULTS: Record<ModelFamily, FamilyDefaults> = {
  sd1: { size: 512, steps: 50, cfg: 7.5 },
  sd2: { size: 512, steps: 50, cfg: 7.5 },
  sdxl: { size: 1024, steps: 50, cfg: 5.0 },
  lcm: { size: 512, steps: 4, cfg: 8.5 },
  turbo: { size: 512, steps: 4, cfg: 0 },
  'sdxl-turbo': { size: 512, steps: 4, cfg: 0 },
};

function describeModel(
  schedulerConfig: SchedulerConfig,
  unetConfig: Record<string, unknown> | undefined,
  unet: UnetModel,
  encoders: TextEncoderModel[],
  isXL: boolean,
): ModelInfo {
  const predictionType: PredictionType = schedulerConfig.prediction_type ?? 'epsilon';
  if (!['epsilon', 'v_prediction', 'sample'].includes(predictionType)) {
    throw new EngineError('model_invalid', `scheduler/scheduler_config.json: unknown prediction_type ${JSON.stringify(predictionType)}`);
  }
  // Turbo models are distilled for few trailing-spaced steps without CFG; their scheduler config says "trailing".
  const trailing = schedulerConfig.timestep_spacing === 'trailing';
  const tokenizer = encoders[0].tokenizer;
  // SD2 lineage: OpenCLIP width 1024, or (for models of other widths) the "!" padding of SD2 tokenizers.
  const sd2Lineage = unet.crossAttentionDim === 1024 || tokenizer.padId !== tokenizer.eosId;
  let family: ModelFamily;
  if (unet.lcm) family = 'lcm';
  else if (isXL) family = trailing ? 'sdxl-turbo' : 'sdxl';
  else if (trailing) family = 'turbo';
  else family = sd2Lineage ? 'sd2' : 'sd1';

  const defaults = FAMILY_DEFAULTS[family];
  const sampleSize = unetConfig?.sample_size;
  const native = typeof sampleSize === 'number' && sampleSize > 0 ? sampleSize * 8 : family === 'sd2' && predictionType === 'v_prediction' ? 768 : defaults.size;
  const samplers: SamplerName[] = family === 'lcm' ? ['lcm'] : SAMPLER_NAMES.filter((s) => s !== 'lcm');
  const fromConfig = defaultSampler(schedulerConfig);
  return {
    family,
    predictionType,
    nativeWidth: native,
    nativeHeight: native,
    defaultSampler: samplers.includes(fromConfig) ? fromConfig : samplers[0],
    defaultSteps: defaults.steps,
    defaultCfg: defaults.cfg,
    samplers,
  };
}

