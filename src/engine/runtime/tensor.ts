/**
 * Host-side tensors exchanged with model sessions. The pipeline builds them in exactly the dtype a model
 * input declares (session input metadata), so what a session sees is what ONNX Runtime gets.
 * float16 travels as Uint16Array bit patterns (Node 20 has no Float16Array), int64 as BigInt64Array.
 */
export type TensorType = 'float32' | 'float16' | 'int32' | 'int64';

export type TensorData = Float32Array | Uint16Array | Int32Array | BigInt64Array;

export interface HostTensor {
  readonly type: TensorType;
  readonly data: TensorData;
  readonly dims: readonly number[];
}

/** One declared model input or output: ONNX type name and shape (numbers, or symbolic names for dynamic axes). */
export interface TensorInfo {
  readonly name: string;
  readonly type: string;
  readonly shape: ReadonlyArray<number | string>;
}

export function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}
