/**
 * Builds model inputs in exactly the dtype/shape each session declares and reads outputs back as float32. Host maths
 * stays float32; float16 conversion happens only here, at the model boundary (docs/engine-reference.md §2.6).
 */
import { EngineError } from '../errors.ts';
import { float32ToHalf, halfToFloat32, toHalfBits } from '../runtime/float16.ts';
import type { HostTensor } from '../runtime/tensor.ts';
import type { FloatType, TimestepSpec } from '../model/types.ts';

export function floatFeed(data: Float32Array, dims: readonly number[], type: FloatType): HostTensor {
  return type === 'float32' ? { type, data, dims } : { type, data: float32ToHalf(data), dims };
}

export function idsFeed(ids: readonly number[], type: 'int32' | 'int64'): HostTensor {
  const dims = [1, ids.length];
  if (type === 'int32') return { type, data: Int32Array.from(ids), dims };
  return { type, data: BigInt64Array.from(ids, (id) => BigInt(id)), dims };
}

/**
 * The UNet timestep in the form the export wants: int64 exports get the truncated integer (what diffusers and
 * old optimum pipelines feed: np.array([t], dtype=int64)), float16 exports the fp16-rounded value; rank-1
 * inputs get shape [1] (the graph broadcasts it to the batch), scalar inputs shape [].
 */
export function timestepFeed(t: number, spec: TimestepSpec): HostTensor {
  const dims = spec.rank === 0 ? [] : [1];
  switch (spec.type) {
    case 'int64':
      return { type: 'int64', data: BigInt64Array.of(BigInt(Math.trunc(t))), dims };
    case 'float16':
      return { type: 'float16', data: Uint16Array.of(toHalfBits(t)), dims };
    case 'float32':
      return { type: 'float32', data: Float32Array.of(t), dims };
  }
}

/** A float model output as float32 (converting fp16 bit patterns). */
export function outputFloat32(outputs: Record<string, HostTensor>, name: string, where: string): Float32Array {
  const t = outputs[name];
  if (!t) throw new EngineError('runtime_error', `${where} returned no "${name}" output`);
  if (t.type === 'float32' && t.data instanceof Float32Array) return t.data;
  if (t.type === 'float16' && t.data instanceof Uint16Array) return halfToFloat32(t.data);
  throw new EngineError('runtime_error', `${where} output "${name}" has type ${t.type}, expected a float tensor`);
}
