/** What the loader learns about a model folder (from files and session metadata, never from class names). */
import type { ClipTokenizer } from '../tokenizer/clip-tokenizer.ts';
import type { ModelSession, ResolvedDevice } from '../runtime/ort.ts';
import type { TensorInfo } from '../runtime/tensor.ts';
import type { PredictionType, SamplerName, SchedulerConfig } from '../schedulers/types.ts';

/**
 * Model families. Detection from files returns sd1, sd2, sd2-v, sdxl or lcm; the Turbo families look like their
 * base models on disk (the distillation is in the weights), so they are only ever set by the caller.
 */
export type ModelFamily = 'sd1' | 'sd2' | 'sd2-v' | 'sdxl' | 'lcm' | 'sd-turbo' | 'sdxl-turbo';

export const MODEL_FAMILIES: readonly ModelFamily[] = ['sd1', 'sd2', 'sd2-v', 'sdxl', 'lcm', 'sd-turbo', 'sdxl-turbo'];

/** The ONNX components of a model folder (sub-folder names). */
export type ComponentName = 'text_encoder' | 'text_encoder_2' | 'unet' | 'vae_decoder' | 'vae_encoder' | 'vae_approx';

/** One ONNX file of a model as declared on disk (read without creating a session). */
export interface ComponentManifest {
  name: ComponentName;
  /** Relative to the model folder, e.g. "unet/model.onnx". */
  file: string;
  /** model.onnx plus the external-data files its initializers name. */
  bytes: number;
  inputs: readonly TensorInfo[];
  outputs: readonly TensorInfo[];
}

/**
 * Everything the engine learns about a model folder from its files alone (configs and ONNX graph metadata):
 * what inspectModel() returns and what a loaded pipeline reports, so a service can plan requests, sizes and memory
 * without opening sessions.
 */
export interface ModelManifest {
  /** Absolute path of the folder. */
  dir: string;
  family: ModelFamily;
  predictionType: PredictionType;
  /** unet/config.json sample_size × vaeScaleFactor, else the family default. */
  nativeWidth: number;
  nativeHeight: number;
  /** Pixels per latent cell: 2^(len(vae_decoder block_out_channels) − 1), default 8. */
  vaeScaleFactor: number;
  /** Width and height must be multiples of this: vaeScaleFactor × 2^(UNet down blocks − 1). */
  latentMultiple: number;
  samplers: SamplerName[];
  defaultSampler: SamplerName;
  defaultSteps: number;
  defaultCfg: number;
  /**
   * LCM models only: `original_inference_steps` of the scheduler config (default 50). Image-to-image picks its steps
   * from the first int(originalInferenceSteps × strength) origin timesteps (see denoisingSteps()).
   */
  originalInferenceSteps?: number;
  /** Output convention of vae_encoder/model.onnx; absent when the folder has no VAE encoder. */
  vaeEncoder?: 'latent_sample' | 'latent_parameters';
  /** The UNet's `sample` input has 9 channels (latents, mask, masked-image latents): an inpainting model. */
  inpaintUnet: boolean;
  /** vae_approx/model.onnx exists: previews use it instead of the linear latent → RGB projection. */
  previewModel: boolean;
  /** Bytes of the ONNX files (with external data) a loaded model holds: everything but the VAE encoder. */
  sizeBytes: number;
  components: ComponentManifest[];
}

/** A loaded model: its manifest plus the device its sessions actually run on. */
export interface ModelInfo extends ModelManifest {
  device: ResolvedDevice;
}

export type FloatType = 'float32' | 'float16';

/**
 * How the UNet wants its timestep (docs/engine-reference.md §2.2, §2.3): int64 [steps], float [batch] or float
 * scalar [].
 */
export interface TimestepSpec {
  type: 'int64' | FloatType;
  /** 0 = scalar, 1 = fed as shape [1] and broadcast by the graph. */
  rank: 0 | 1;
}

export interface TextEncoderModel {
  /** Sub-folder name, e.g. "text_encoder_2". */
  name: string;
  session: ModelSession;
  tokenizer: ClipTokenizer;
  idsType: 'int32' | 'int64';
  /** Output used as the sequence conditioning: last_hidden_state, or hidden_states.{N-1} for SDXL. */
  sequenceOutput: string;
  /** SDXL encoder 2: the pooled projection "text_embeds". */
  pooledOutput?: string;
  /** Last dim of the sequence output when the metadata states it. */
  hiddenSize?: number;
  /** Width of the pooled output when the metadata states it. */
  pooledSize?: number;
}

export interface UnetModel {
  session: ModelSession;
  sampleType: FloatType;
  hiddenStatesType: FloatType;
  timestep: TimestepSpec;
  crossAttentionDim?: number;
  /** SDXL "text_time" conditioning inputs. */
  sdxl?: { textEmbedsType: FloatType; textEmbedsDim?: number; timeIdsType: FloatType; timeIdsLength: number };
  /** LCM guidance embedding input. */
  lcm?: { type: FloatType; dim: number };
}

export interface VaeModel {
  decoder: ModelSession;
  decoderInputType: FloatType;
  scalingFactor: number;
  encoder?: { session: ModelSession; output: 'latent_sample' | 'latent_parameters' };
}

/** The optional preview decoder: latents [1, 4, h, w] → RGB [1, 3, H, W] in [-1, 1] (docs/models.md). */
export interface VaeApproxModel {
  session: ModelSession;
  input: string;
  inputType: FloatType;
  output: string;
}

export interface LoadedModel {
  dir: string;
  manifest: ModelManifest;
  /** The device the sessions run on ('cpu' after a CUDA fallback). */
  device: ResolvedDevice;
  schedulerConfig: SchedulerConfig;
  textEncoders: TextEncoderModel[];
  unet: UnetModel;
  vae: VaeModel;
  /** SDXL: a missing negative prompt becomes zero embeddings (model_index.json). */
  forceZerosForEmptyPrompt: boolean;
  sessions(): ModelSession[];
  /** Opens vae_encoder/model.onnx on first use (text-to-image does not need it). */
  loadVaeEncoder(): Promise<NonNullable<VaeModel['encoder']>>;
  /** Opens vae_approx/model.onnx on first use (only previews need it); undefined when the folder has none. */
  loadVaeApprox(): Promise<VaeApproxModel | undefined>;
  dispose(): Promise<void>;
}
