/**
 * Reads what each exporter generation declares (docs/engine-reference.md §2.2, §2.3, §2.5) from session metadata. Pure
 * functions over TensorInfo lists, so they are testable without ONNX files.
 */
import { EngineError } from '../errors.ts';
import type { TensorInfo } from '../runtime/tensor.ts';
import type { FloatType, TextEncoderModel, TimestepSpec, UnetModel } from './types.ts';

export function findTensor(list: readonly TensorInfo[], name: string): TensorInfo | undefined {
  return list.find((t) => t.name === name);
}

export function requireTensor(list: readonly TensorInfo[], name: string, where: string, kind: 'input' | 'output'): TensorInfo {
  const found = findTensor(list, name);
  if (!found) {
    const names = list.map((t) => t.name).join(', ') || 'none';
    throw new EngineError('model_invalid', `${where} has no ${kind} "${name}" (it has: ${names})`);
  }
  return found;
}

export function floatType(info: TensorInfo, where: string): FloatType {
  if (info.type === 'float32' || info.type === 'float16') return info.type;
  throw new EngineError('model_invalid', `${where}: ${info.name} has type ${info.type}, expected float32 or float16`);
}

/** A dimension when the model states it as a number, undefined when it is symbolic or absent. */
export function staticDim(info: TensorInfo | undefined, axis: number): number | undefined {
  const d = info?.shape[axis];
  return typeof d === 'number' && d > 0 ? d : undefined;
}

export function timestepSpec(info: TensorInfo, where: string): TimestepSpec {
  if (info.type !== 'int64' && info.type !== 'float32' && info.type !== 'float16') {
    throw new EngineError('model_invalid', `${where}: timestep has type ${info.type}, expected int64, float32 or float16`);
  }
  if (info.shape.length > 1) {
    throw new EngineError('model_invalid', `${where}: timestep has rank ${info.shape.length}, expected a scalar or [1]`);
  }
  return { type: info.type, rank: info.shape.length === 0 ? 0 : 1 };
}

export function describeUnet(
  inputs: readonly TensorInfo[],
  outputs: readonly TensorInfo[],
  where: string,
  config: Record<string, unknown> | undefined,
): Omit<UnetModel, 'session'> {
  const sample = requireTensor(inputs, 'sample', where, 'input');
  const hidden = requireTensor(inputs, 'encoder_hidden_states', where, 'input');
  requireTensor(outputs, 'out_sample', where, 'output');
  const unet: Omit<UnetModel, 'session'> = {
    sampleType: floatType(sample, where),
    hiddenStatesType: floatType(hidden, where),
    timestep: timestepSpec(requireTensor(inputs, 'timestep', where, 'input'), where),
    crossAttentionDim: staticDim(hidden, 2) ?? numberOr(config?.cross_attention_dim),
  };
  const textEmbeds = findTensor(inputs, 'text_embeds');
  const timeIds = findTensor(inputs, 'time_ids');
  if (textEmbeds || timeIds) {
    if (!textEmbeds || !timeIds) {
      throw new EngineError('model_invalid', `${where}: SDXL UNets need both text_embeds and time_ids inputs`);
    }
    unet.sdxl = {
      textEmbedsType: floatType(textEmbeds, where),
      textEmbedsDim: staticDim(textEmbeds, 1),
      timeIdsType: floatType(timeIds, where),
      timeIdsLength: staticDim(timeIds, 1) ?? 6,
    };
    if (unet.sdxl.timeIdsLength !== 6) {
      throw new EngineError(
        'model_invalid',
        `${where}: time_ids has ${unet.sdxl.timeIdsLength} values (refiner/aesthetic-score UNet); text-to-image needs 6`,
      );
    }
  }
  const timeCond = findTensor(inputs, 'timestep_cond');
  if (timeCond) {
    unet.lcm = {
      type: floatType(timeCond, where),
      dim: staticDim(timeCond, 1) ?? numberOr(config?.time_cond_proj_dim) ?? 256,
    };
  }
  return unet;
}

/** SDXL encoders: hidden_states.0 … hidden_states.N; diffusers uses the penultimate one, hidden_states.{N-1}. */
export function penultimateHiddenState(outputs: readonly TensorInfo[], where: string): string {
  const layers = outputs
    .map((t) => /^hidden_states\.(\d+)$/.exec(t.name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]));
  if (layers.length < 2) {
    throw new EngineError(
      'model_invalid',
      `${where} has no hidden_states.* outputs; SDXL text encoders must be exported with hidden states`,
    );
  }
  const n = Math.max(...layers);
  return `hidden_states.${n - 1}`;
}

/** What a text encoder's declared I/O says, without its session and tokenizer. */
export type TextEncoderSpec = Omit<TextEncoderModel, 'session' | 'tokenizer'>;

export function describeTextEncoder(
  name: string,
  inputs: readonly TensorInfo[],
  outputs: readonly TensorInfo[],
  isXL: boolean,
  isLast: boolean,
): TextEncoderSpec {
  const where = `${name}/model.onnx`;
  const ids = requireTensor(inputs, 'input_ids', where, 'input');
  if (ids.type !== 'int32' && ids.type !== 'int64') {
    throw new EngineError('model_invalid', `${where}: input_ids has type ${ids.type}, expected int32 or int64`);
  }
  // SD1/SD2 condition on last_hidden_state (after the final layer norm); SDXL on the penultimate hidden state.
  const sequenceOutput = isXL ? penultimateHiddenState(outputs, where) : 'last_hidden_state';
  const sequence = requireTensor(outputs, sequenceOutput, where, 'output');
  const encoder: TextEncoderSpec = { name, idsType: ids.type, sequenceOutput, hiddenSize: staticDim(sequence, 2) };
  if (isXL && isLast) {
    const pooled = requireTensor(outputs, 'text_embeds', where, 'output');
    encoder.pooledOutput = 'text_embeds';
    encoder.pooledSize = staticDim(pooled, 1);
  }
  return encoder;
}

/**
 * Encoder hidden size(s) must add up to the UNet's cross-attention width (SDXL concatenates both encoders), and the
 * pooled width must match the UNet's text_embeds. Checked where the dims are known (static in the metadata).
 */
export function checkDimensions(encoders: readonly TextEncoderSpec[], unet: Omit<UnetModel, 'session'>): void {
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
  if (pooled?.pooledSize !== undefined && unet.sdxl?.textEmbedsDim !== undefined && pooled.pooledSize !== unet.sdxl.textEmbedsDim) {
    throw new EngineError(
      'model_invalid',
      `${pooled.name}/model.onnx text_embeds width ${pooled.pooledSize} != unet/model.onnx text_embeds width ${unet.sdxl.textEmbedsDim}`,
    );
  }
}

/**
 * A session must declare what the file declares: same names, element types and ranks, and the same value for every
 * dim the file states as a number. (A session may turn a symbolic output dim into a number: ONNX Runtime runs shape
 * inference when it loads the graph.)
 */
export function checkSessionAgrees(
  file: string,
  kind: 'input' | 'output',
  declared: readonly TensorInfo[],
  session: readonly TensorInfo[],
): void {
  const describe = (t: TensorInfo | undefined): string => (t ? `${t.name}: ${t.type} [${t.shape.join(', ')}]` : 'nothing');
  const names = (list: readonly TensorInfo[]): string => list.map((t) => t.name).join(', ') || 'none';
  if (names(declared) !== names(session)) {
    throw new EngineError('model_invalid', `Cannot load ${file}: the session has ${kind}s ${names(session)} but the file declares ${names(declared)}`);
  }
  for (let i = 0; i < declared.length; i++) {
    const d = declared[i];
    const s = session[i];
    const dimsAgree = d.shape.length === s.shape.length && d.shape.every((dim, axis) => typeof dim !== 'number' || dim === s.shape[axis]);
    if (d.type !== s.type || !dimsAgree) {
      throw new EngineError('model_invalid', `Cannot load ${file}: the session ${kind} is ${describe(s)} but the file declares ${describe(d)}`);
    }
  }
}

function numberOr(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}
