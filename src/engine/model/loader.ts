/**
 * Loads a diffusers/optimum ONNX Stable Diffusion folder (docs/engine-reference.md §2.1, §2.5). Everything is detected from
 * the files (manifest.ts: configs and each ONNX file's declared inputs/outputs, no sessions), so all three exporter
 * generations load the same way; loading opens the sessions and checks that they agree with the files. An
 * incomplete or inconsistent folder fails before any session is created, with EngineError('model_invalid').
 */
import { EngineError } from '../errors.ts';
import { createSessionOpener, type ModelSession, type RuntimeOptions, type SessionOpener } from '../runtime/ort.ts';
import type { SchedulerConfig } from '../schedulers/types.ts';
import { checkDimensions, checkSessionAgrees, describeTextEncoder, describeUnet, floatType, requireTensor } from './inspect.ts';
import { inspectModelFolder, type InspectOptions } from './manifest.ts';
import type { ComponentName, LoadedModel, ModelFamily, TextEncoderModel, UnetModel, VaeApproxModel, VaeModel } from './types.ts';

export interface LoadOptions extends RuntimeOptions, InspectOptions {
  /** Test hook: opens (or wraps) sessions; defaults to onnxruntime-node with the runtime options. */
  openSession?: SessionOpener;
}

export async function loadModelFolder(dirArg: string, options: LoadOptions = {}): Promise<LoadedModel> {
  const inspection = await inspectModelFolder(dirArg, { family: options.family });
  const { manifest, isXL, encoderNames, paths } = inspection;
  const dir = manifest.dir;

  const open = options.openSession ?? createSessionOpener(options);
  const opened: ModelSession[] = [];
  const openComponent = async (name: ComponentName): Promise<ModelSession> => {
    const component = manifest.components.find((c) => c.name === name);
    const path = paths[name];
    if (!component || !path) throw new EngineError('model_invalid', `Cannot load ${name}/model.onnx: the folder ${dir} has none`);
    const session = await open(path);
    opened.push(session);
    checkSessionAgrees(component.file, 'input', component.inputs, session.inputs);
    checkSessionAgrees(component.file, 'output', component.outputs, session.outputs);
    return session;
  };
  const releaseAll = async (): Promise<void> => {
    await Promise.allSettled(opened.splice(0).map((s) => s.release()));
  };

  try {
    // The descriptors are rebuilt from the sessions: they may state dims the files leave symbolic.
    const textEncoders: TextEncoderModel[] = [];
    for (let i = 0; i < encoderNames.length; i++) {
      const session = await openComponent(encoderNames[i]);
      const spec = describeTextEncoder(encoderNames[i], session.inputs, session.outputs, isXL, i === encoderNames.length - 1);
      textEncoders.push({ ...spec, session, tokenizer: inspection.tokenizers[i] });
    }
    const unetSession = await openComponent('unet');
    const unet: UnetModel = {
      session: unetSession,
      ...describeUnet(unetSession.inputs, unetSession.outputs, 'unet/model.onnx', inspection.unetConfig),
    };
    checkDimensions(textEncoders, unet);

    const decoder = await openComponent('vae_decoder');
    const vae: VaeModel = {
      decoder,
      decoderInputType: floatType(requireTensor(decoder.inputs, 'latent_sample', 'vae_decoder/model.onnx', 'input'), 'vae_decoder/model.onnx'),
      scalingFactor: inspection.scalingFactor,
    };
    let approx: Promise<VaeApproxModel | undefined> | undefined;

    return {
      dir,
      manifest,
      device: unetSession.device,
      schedulerConfig: legacySchedulerFixes(inspection.schedulerConfig, manifest.family, options.logger),
      textEncoders,
      unet,
      vae,
      forceZerosForEmptyPrompt: inspection.forceZerosForEmptyPrompt,
      sessions: () => [...opened],
      async loadVaeEncoder() {
        if (vae.encoder) return vae.encoder;
        if (!manifest.vaeEncoder) throw new EngineError('model_invalid', `Model folder ${dir} is incomplete: vae_encoder/model.onnx is missing`);
        vae.encoder = { session: await openComponent('vae_encoder'), output: manifest.vaeEncoder };
        return vae.encoder;
      },
      loadVaeApprox() {
        if (!manifest.previewModel) return Promise.resolve(undefined);
        approx ??= openComponent('vae_approx').then((session) => {
          const input = session.inputs[0];
          return { session, input: input.name, inputType: floatType(input, 'vae_approx/model.onnx'), output: session.outputs[0].name };
        });
        // A failed open is not cached: the next preview tries again (and fails the same way, loudly).
        approx.catch(() => (approx = undefined));
        return approx;
      },
      dispose: releaseAll,
    };
  } catch (err) {
    await releaseAll();
    throw err;
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
  if (family !== 'sd1' && family !== 'sd2' && family !== 'sd2-v' && family !== 'sd-turbo') return config;
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
