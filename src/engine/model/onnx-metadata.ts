/**
 * Reads an ONNX file's graph inputs/outputs (names, element types, dims) and the external-data files its
 * initializers point to, without an ONNX Runtime session and without loading the file: positional reads walk
 * ModelProto.graph → GraphProto.input/output/initializer and seek past everything else (nodes, tensor payloads).
 * A multi-GB model.onnx with inline weights costs a small read per initializer header.
 *
 * Why not a package: protobufjs, pbf, @bufbuild/protobuf and onnx-proto all decode a message from one in-memory
 * buffer, so they need the whole file in memory (GBs; an SDXL UNet is over V8's buffer limit). None can skip a
 * length-delimited field on disk, which is all this needs. The wire format is small enough to read by hand.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { EngineError } from '../errors.ts';
import type { TensorInfo } from '../runtime/tensor.ts';

export interface OnnxMetadata {
  irVersion: number;
  /** Graph inputs that are not initializers (what an ONNX Runtime session reports as inputs). */
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  /** External-data file names (relative to the model file's folder), in first-use order. */
  externalData: string[];
  /** Bytes this read took from disk: a diagnostic that proves the file was not loaded whole. */
  bytesRead: number;
}

// onnx.proto field numbers.
const MODEL_IR_VERSION = 1;
const MODEL_GRAPH = 7;
const GRAPH_INITIALIZER = 5;
const GRAPH_INPUT = 11;
const GRAPH_OUTPUT = 12;
const GRAPH_SPARSE_INITIALIZER = 15;
const TENSOR_NAME = 8;
const TENSOR_EXTERNAL_DATA = 13;
const SPARSE_VALUES = 1;
const ENTRY_KEY = 1;
const ENTRY_VALUE = 2;
const VALUE_INFO_NAME = 1;
const VALUE_INFO_TYPE = 2;
const TYPE_TENSOR = 1;
const TENSOR_TYPE_ELEM = 1;
const TENSOR_TYPE_SHAPE = 2;
const SHAPE_DIM = 1;
const DIM_VALUE = 1;
const DIM_PARAM = 2;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

/** TensorProto.DataType → the names onnxruntime-node reports. */
const ELEMENT_TYPES: Record<number, string> = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string', 9: 'bool',
  10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64', 14: 'complex64', 15: 'complex128', 16: 'bfloat16',
  21: 'uint4', 22: 'int4',
};

const WINDOW = 16 * 1024;
/** Names and small strings only; anything longer in a string field we read means a corrupt file. */
const MAX_STRING = 1 << 20;

class FormatError extends Error {}

/** Protobuf wire reader over a file: a small read window plus seeks. */
class ProtoFileReader {
  pos = 0;
  bytesRead = 0;
  private window = Buffer.alloc(0);
  private windowStart = 0;

  constructor(
    private readonly file: FileHandle,
    readonly size: number,
  ) {}

  /** Makes [pos, pos + n) available in the window. */
  private async ensure(n: number): Promise<void> {
    if (this.pos + n > this.size) throw new FormatError(`truncated: a field at byte ${this.pos} runs past the end of the file`);
    if (this.pos >= this.windowStart && this.pos + n <= this.windowStart + this.window.length) return;
    const length = Math.min(Math.max(n, WINDOW), this.size - this.pos);
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await this.file.read(buffer, 0, length, this.pos);
    this.bytesRead += bytesRead;
    if (bytesRead < n) throw new FormatError(`short read at byte ${this.pos}`);
    this.window = buffer.subarray(0, bytesRead);
    this.windowStart = this.pos;
  }

  async varint(): Promise<bigint> {
    await this.ensure(Math.min(10, this.size - this.pos));
    let result = 0n;
    for (let i = 0; i < 10; i++) {
      const byte = this.window[this.pos - this.windowStart];
      this.pos++;
      result |= BigInt(byte & 0x7f) << BigInt(7 * i);
      if ((byte & 0x80) === 0) return BigInt.asIntN(64, result);
    }
    throw new FormatError(`malformed varint at byte ${this.pos - 10}`);
  }

  async number(): Promise<number> {
    return Number(await this.varint());
  }

  async tag(): Promise<{ field: number; wire: number }> {
    const tag = await this.number();
    return { field: tag >>> 3, wire: tag & 7 };
  }

  /** The end offset of a length-delimited field whose tag was just read. */
  async lengthEnd(limit: number): Promise<number> {
    const length = await this.number();
    const end = this.pos + length;
    if (end > this.size) throw new FormatError(`truncated: a field at byte ${this.pos} claims ${length} bytes, past the end of the file`);
    if (length < 0 || end > limit) throw new FormatError(`a field at byte ${this.pos} claims ${length} bytes, past its message`);
    return end;
  }

  async string(limit: number): Promise<string> {
    const end = await this.lengthEnd(limit);
    const length = end - this.pos;
    if (length > MAX_STRING) throw new FormatError(`implausible string of ${length} bytes at byte ${this.pos}`);
    await this.ensure(length);
    const offset = this.pos - this.windowStart;
    this.pos = end;
    return this.window.toString('utf8', offset, offset + length);
  }

  async skip(wire: number, limit: number): Promise<void> {
    switch (wire) {
      case WIRE_VARINT:
        await this.varint();
        return;
      case WIRE_FIXED64:
        this.pos += 8;
        return;
      case WIRE_FIXED32:
        this.pos += 4;
        return;
      case WIRE_LEN:
        this.pos = await this.lengthEnd(limit);
        return;
      default:
        throw new FormatError(`unsupported protobuf wire type ${wire} at byte ${this.pos}`);
    }
  }

  /** Calls `visit` for each field of the message ending at `end`; a visitor that does not consume it skips it. */
  async fields(end: number, visit: (field: number, wire: number) => Promise<boolean>): Promise<void> {
    while (this.pos < end) {
      const { field, wire } = await this.tag();
      if (field === 0) throw new FormatError(`invalid field number 0 at byte ${this.pos}`);
      if (!(await visit(field, wire))) await this.skip(wire, end);
    }
    if (this.pos !== end) throw new FormatError(`a field overruns its message at byte ${end}`);
  }
}

/**
 * The declared I/O of an ONNX model file. `label` names the file in errors (e.g. "unet/model.onnx").
 * @throws {EngineError} `model_invalid` when the file cannot be read or is not an ONNX model
 */
export async function readOnnxMetadata(path: string, label = path): Promise<OnnxMetadata> {
  let file: FileHandle;
  try {
    file = await open(path, 'r');
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new EngineError('model_invalid', `Cannot read ${label}: ${reason}`, { cause: err });
  }
  try {
    const reader = new ProtoFileReader(file, (await file.stat()).size);
    return await readModel(reader);
  } catch (err) {
    if (err instanceof FormatError) throw new EngineError('model_invalid', `Cannot read ${label}: not a valid ONNX model (${err.message})`);
    if (err instanceof EngineError) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    throw new EngineError('model_invalid', `Cannot read ${label}: ${reason}`, { cause: err });
  } finally {
    await file.close();
  }
}

async function readModel(r: ProtoFileReader): Promise<OnnxMetadata> {
  let irVersion = 0;
  let graph: { start: number; end: number } | undefined;
  await r.fields(r.size, async (field, wire) => {
    if (field === MODEL_IR_VERSION && wire === WIRE_VARINT) irVersion = await r.number();
    else if (field === MODEL_GRAPH && wire === WIRE_LEN) {
      const end = await r.lengthEnd(r.size);
      graph = { start: r.pos, end };
      r.pos = end;
    } else return false;
    return true;
  });
  if (!graph) throw new FormatError('it has no graph');
  r.pos = graph.start;
  const inputs: TensorInfo[] = [];
  const outputs: TensorInfo[] = [];
  const initializers = new Set<string>();
  const externalData: string[] = [];
  const tensorHeader = async (end: number): Promise<void> => {
    const header = await readTensorHeader(r, end);
    initializers.add(header.name);
    if (header.location !== undefined && !externalData.includes(header.location)) externalData.push(header.location);
  };
  await r.fields(graph.end, async (field, wire) => {
    if (wire !== WIRE_LEN) return false;
    const end = await r.lengthEnd(graph!.end);
    if (field === GRAPH_INPUT) inputs.push(await readValueInfo(r, end));
    else if (field === GRAPH_OUTPUT) outputs.push(await readValueInfo(r, end));
    else if (field === GRAPH_INITIALIZER) await tensorHeader(end);
    else if (field === GRAPH_SPARSE_INITIALIZER) {
      await r.fields(end, async (f, w) => {
        if (f !== SPARSE_VALUES || w !== WIRE_LEN) return false;
        await tensorHeader(await r.lengthEnd(end));
        return true;
      });
    }
    r.pos = end;
    return true;
  });
  // Before IR 4 every initializer is also listed as a graph input; ONNX Runtime does not report those as inputs.
  return { irVersion, inputs: inputs.filter((i) => !initializers.has(i.name)), outputs, externalData, bytesRead: r.bytesRead };
}

/** A TensorProto's name and external-data location; the payload fields are skipped. */
async function readTensorHeader(r: ProtoFileReader, end: number): Promise<{ name: string; location?: string }> {
  let name = '';
  let location: string | undefined;
  await r.fields(end, async (field, wire) => {
    if (field === TENSOR_NAME && wire === WIRE_LEN) name = await r.string(end);
    else if (field === TENSOR_EXTERNAL_DATA && wire === WIRE_LEN) {
      const entryEnd = await r.lengthEnd(end);
      let key = '';
      let value = '';
      await r.fields(entryEnd, async (f, w) => {
        if (w !== WIRE_LEN || (f !== ENTRY_KEY && f !== ENTRY_VALUE)) return false;
        if (f === ENTRY_KEY) key = await r.string(entryEnd);
        else value = await r.string(entryEnd);
        return true;
      });
      if (key === 'location') location = value;
    } else return false;
    return true;
  });
  return { name, location };
}

/** ValueInfoProto → TensorInfo, with dims as onnxruntime-node reports them (number, dim_param, or '' if unnamed). */
async function readValueInfo(r: ProtoFileReader, end: number): Promise<TensorInfo> {
  let name = '';
  let type = 'non-tensor';
  const shape: Array<number | string> = [];
  await r.fields(end, async (field, wire) => {
    if (field === VALUE_INFO_NAME && wire === WIRE_LEN) name = await r.string(end);
    else if (field === VALUE_INFO_TYPE && wire === WIRE_LEN) {
      const typeEnd = await r.lengthEnd(end);
      await r.fields(typeEnd, async (f, w) => {
        if (f !== TYPE_TENSOR || w !== WIRE_LEN) return false; // sequence/map/optional types stay 'non-tensor'
        const tensorEnd = await r.lengthEnd(typeEnd);
        await r.fields(tensorEnd, async (tf, tw) => {
          if (tf === TENSOR_TYPE_ELEM && tw === WIRE_VARINT) {
            const code = await r.number();
            type = ELEMENT_TYPES[code] ?? `onnx-type-${code}`;
          } else if (tf === TENSOR_TYPE_SHAPE && tw === WIRE_LEN) {
            const shapeEnd = await r.lengthEnd(tensorEnd);
            await r.fields(shapeEnd, async (sf, sw) => {
              if (sf !== SHAPE_DIM || sw !== WIRE_LEN) return false;
              shape.push(await readDim(r, await r.lengthEnd(shapeEnd)));
              return true;
            });
          } else return false;
          return true;
        });
        return true;
      });
    } else return false;
    return true;
  });
  return { name, type, shape: type === 'non-tensor' ? [] : shape };
}

async function readDim(r: ProtoFileReader, end: number): Promise<number | string> {
  let dim: number | string = '';
  await r.fields(end, async (field, wire) => {
    if (field === DIM_VALUE && wire === WIRE_VARINT) dim = await r.number();
    else if (field === DIM_PARAM && wire === WIRE_LEN) dim = await r.string(end);
    else return false;
    return true;
  });
  return dim;
}
