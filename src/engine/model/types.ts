/** What the loader learns about a model folder (from files and session metadata, never from class names). */
import type { ClipTokenizer } from '../tokenizer/clip-tokenizer.ts';
import type { ModelSession } from '../runtime/ort.ts';
import type { PredictionType, SamplerName, SchedulerConfig } from '../schedulers/types.ts';

export type ModelFamily = 'sd1' | 'sd2' | 'sdxl' | 'lcm' | 'turbo' | 'sdxl-turbo';

/** Public summary of a loaded model. */
export interface ModelInfo {
  family: ModelFamily;
  predictionType: PredictionType;
  /** unet/config.json sample_size x 8 when present, else the family default. */
  nativeWidth: number;
  nativeHeight: number;
  defaultSampler: SamplerName;
  defaultSteps: number;
  defaultCfg: number;
  samplers: SamplerName[];
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

export interface LoadedModel {
  dir: string;
  info: ModelInfo;
  schedulerConfig: SchedulerConfig;
  textEncoders: TextEncoderModel[];
  unet: UnetModel;
  vae: VaeModel;
  /** SDXL: a missing negative prompt becomes zero embeddings (model_index.json). */
  forceZerosForEmptyPrompt: boolean;
  sessions(): ModelSession[];
  /** Opens vae_encoder/model.onnx on first use (text-to-image does not need it). */
  loadVaeEncoder(): Promise<NonNullable<VaeModel['encoder']>>;
  dispose(): Promise<void>;
}
