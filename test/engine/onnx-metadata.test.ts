import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { EngineError } from '../../src/engine/errors.ts';
import { checkSessionAgrees } from '../../src/engine/model/inspect.ts';
import { readOnnxMetadata } from '../../src/engine/model/onnx-metadata.ts';
import { tiny } from './pipeline-helpers.ts';

// A minimal protobuf writer, enough to build ONNX files by field number (onnx.proto).
function varint(value: number | bigint): Buffer {
  let v = BigInt.asUintN(64, BigInt(value));
  const bytes: number[] = [];
  do {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    bytes.push(v > 0n ? byte | 0x80 : byte);
  } while (v > 0n);
  return Buffer.from(bytes);
}
const num = (field: number, value: number | bigint): Buffer => Buffer.concat([varint(field << 3), varint(value)]);
const msg = (field: number, ...parts: Buffer[]): Buffer => {
  const body = Buffer.concat(parts);
  return Buffer.concat([varint((field << 3) | 2), varint(body.length), body]);
};
const str = (field: number, text: string): Buffer => msg(field, Buffer.from(text));

type Dim = number | string | null;
/** ValueInfoProto (field `field` of GraphProto) for a tensor; dims: number = dim_value, string = dim_param, null = neither. */
function valueInfo(field: number, name: string, elemType: number, dims: Dim[] | undefined): Buffer {
  const shape = dims && msg(2, ...dims.map((d) => msg(1, d === null ? Buffer.alloc(0) : typeof d === 'number' ? num(1, d) : str(2, d))));
  return msg(field, str(1, name), msg(2, msg(1, num(1, elemType), ...(shape ? [shape] : []))));
}

const BIG = 16 * 1024 * 1024;

/**
 * An ONNX file whose 16 MiB inline initializer and a node sit in front of the inputs, with an initializer stored
 * externally, an initializer also listed as an input (IR < 4 style), and every kind of dim.
 */
function syntheticModel(): Buffer {
  const graph = [
    msg(1, str(1, 'x'), str(2, 'y'), str(4, 'Identity')), // node
    str(2, 'graph'),
    msg(5, num(1, BIG / 4), num(2, 1), str(8, 'big'), msg(9, Buffer.alloc(BIG))), // initializer: dims, float, name, raw_data
    msg(5, num(1, 4), num(2, 1), str(8, 'ext'), msg(13, str(1, 'location'), str(2, 'weights.bin')), msg(13, str(1, 'offset'), str(2, '0')), num(14, 1)),
    valueInfo(11, 'x', 1, [1, 'n', null]),
    valueInfo(11, 'big', 1, [BIG / 4]),
    valueInfo(11, 'ids', 7, []),
    valueInfo(11, 'half', 10, [2]),
    valueInfo(11, 'unknown_rank', 1, undefined),
    msg(11, str(1, 'seq'), msg(2, msg(4, msg(1, num(1, 1))))), // sequence<tensor(float)>
    valueInfo(12, 'y', 1, [1, 'n', null]),
  ];
  return Buffer.concat([num(1, 8), str(2, 'test'), msg(8, str(1, ''), num(2, 14)), msg(7, ...graph)]);
}

test('the ONNX reader seeks past a 16 MiB initializer and reads only a few KiB of the file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sdapi-onnx-'));
  try {
    const path = join(dir, 'model.onnx');
    writeFileSync(path, syntheticModel());
    const meta = await readOnnxMetadata(path, 'synthetic/model.onnx');
    assert.ok(statSync(path).size > BIG);
    assert.ok(meta.bytesRead < 64 * 1024, `read ${meta.bytesRead} bytes of ${statSync(path).size}`);
    assert.equal(meta.irVersion, 8);
    assert.deepEqual(meta.inputs, [
      { name: 'x', type: 'float32', shape: [1, 'n', ''] },
      { name: 'ids', type: 'int64', shape: [] },
      { name: 'half', type: 'float16', shape: [2] },
      { name: 'unknown_rank', type: 'float32', shape: [] },
      { name: 'seq', type: 'non-tensor', shape: [] },
    ]);
    assert.deepEqual(meta.outputs, [{ name: 'y', type: 'float32', shape: [1, 'n', ''] }]);
    assert.deepEqual(meta.externalData, ['weights.bin']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the ONNX reader reports what ONNX Runtime sessions report for every tiny model file', async () => {
  for (const model of ['sd1', 'sd2-v', 'sdxl', 'lcm'] as const) {
    for (const component of ['text_encoder', 'text_encoder_2', 'unet', 'vae_decoder', 'vae_encoder', 'vae_approx']) {
      const path = join(tiny(model), component, 'model.onnx');
      let session: ort.InferenceSession;
      try {
        session = await ort.InferenceSession.create(path, { logSeverityLevel: 4 });
      } catch {
        continue; // the model has no such component
      }
      try {
        const describe = (list: readonly ort.InferenceSession.ValueMetadata[]) =>
          list.map((m) => ({ name: m.name, type: m.isTensor ? m.type : 'non-tensor', shape: m.isTensor ? [...m.shape] : [] }));
        const meta = await readOnnxMetadata(path);
        const where = `${model}/${component}`;
        assert.deepEqual(meta.inputs, describe(session.inputMetadata), where);
        // Outputs: ONNX Runtime's shape inference may make a symbolic dim static; the rest must be identical.
        assert.doesNotThrow(() => checkSessionAgrees(where, 'output', meta.outputs, describe(session.outputMetadata)), where);
      } finally {
        await session.release();
      }
    }
  }
});

test('a session that disagrees with its file is rejected with both declarations named', () => {
  const file = [{ name: 'sample', type: 'float32', shape: ['batch', 4, 'h', 'w'] }];
  assert.doesNotThrow(() => checkSessionAgrees('unet/model.onnx', 'input', file, [{ name: 'sample', type: 'float32', shape: [2, 4, 'h', 'w'] }]));
  assert.throws(
    () => checkSessionAgrees('unet/model.onnx', 'input', file, [{ name: 'sample', type: 'float16', shape: ['batch', 4, 'h', 'w'] }]),
    (err: unknown) => err instanceof EngineError && err.code === 'model_invalid' && /unet\/model\.onnx.*float16.*float32/.test(err.message),
  );
  assert.throws(
    () => checkSessionAgrees('unet/model.onnx', 'input', file, [{ name: 'sample', type: 'float32', shape: ['batch', 9, 'h', 'w'] }]),
    /session input is sample: float32 \[batch, 9, h, w\] but the file declares sample: float32 \[batch, 4, h, w\]/,
  );
  assert.throws(() => checkSessionAgrees('unet/model.onnx', 'output', file, []), /has outputs none but the file declares sample/);
});

test('a file that is not an ONNX model, or is cut short, fails with model_invalid naming it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sdapi-onnx-'));
  try {
    const text = join(dir, 'text.onnx');
    writeFileSync(text, 'not a model');
    const cut = join(dir, 'cut.onnx');
    writeFileSync(cut, syntheticModel());
    truncateSync(cut, 200);
    const empty = join(dir, 'empty.onnx');
    writeFileSync(empty, '');
    for (const [path, pattern] of [
      [text, /^Cannot read vae_decoder\/model\.onnx: not a valid ONNX model \(unsupported protobuf wire type/],
      [cut, /^Cannot read vae_decoder\/model\.onnx: not a valid ONNX model \(truncated/],
      [empty, /^Cannot read vae_decoder\/model\.onnx: not a valid ONNX model \(it has no graph\)/],
      [join(dir, 'missing.onnx'), /^Cannot read vae_decoder\/model\.onnx: ENOENT/],
    ] as const) {
      await assert.rejects(readOnnxMetadata(path, 'vae_decoder/model.onnx'), (err: unknown) => {
        assert.ok(err instanceof EngineError);
        assert.equal(err.code, 'model_invalid');
        assert.match(err.message, pattern);
        assert.doesNotMatch(err.message, /\n/);
        return true;
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
