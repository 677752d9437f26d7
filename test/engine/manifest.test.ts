import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EngineError } from '../../src/engine/errors.ts';
import { inspectModel, loadModel, onnxSessionsCreated, onnxSessionsOpen, type ModelManifest } from '../../src/engine/index.ts';
import { copyTiny, tiny } from './pipeline-helpers.ts';

const TINY = ['sd1', 'sd2-v', 'sdxl', 'lcm', 'sd1-inpaint'] as const;
const ALL_BUT_LCM = ['euler', 'euler_a', 'ddim', 'dpmpp_2m', 'dpmpp_2m_karras', 'pndm', 'lms'];

function editJson(path: string, change: (json: Record<string, unknown>) => void): void {
  const json = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  change(json);
  writeFileSync(path, JSON.stringify(json));
}

/** Inspects a copy of a tiny model after `change`, then removes the copy. */
async function inspectChanged(name: (typeof TINY)[number], change: (dir: string) => void, family?: ModelManifest['family']): Promise<ModelManifest> {
  const { dir, cleanup } = copyTiny(name);
  try {
    change(dir);
    return await inspectModel(dir, { family });
  } finally {
    cleanup();
  }
}

function fileBytes(dir: string, ...files: string[]): number {
  return files.reduce((a, f) => a + statSync(join(dir, f)).size, 0);
}

test('the manifest of each tiny model states its family, sizes, defaults and capabilities, image-to-image included', async () => {
  const summary = (m: ModelManifest) => {
    const { components: _c, dir: _d, sizeBytes: _s, ...rest } = m;
    return rest;
  };
  const common = { vaeScaleFactor: 8, latentMultiple: 8, inpaintUnet: false };
  assert.deepEqual(summary(await inspectModel(tiny('sd1'))), {
    ...common,
    family: 'sd1',
    predictionType: 'epsilon',
    nativeWidth: 64, // unet sample_size 8 x VAE scale 8
    nativeHeight: 64,
    samplers: ALL_BUT_LCM,
    defaultSampler: 'pndm',
    defaultSteps: 50,
    defaultCfg: 7.5,
    previewModel: false,
    vaeEncoder: 'latent_sample',
  });
  assert.deepEqual(summary(await inspectModel(tiny('sd2-v'))), {
    ...common,
    family: 'sd2-v',
    predictionType: 'v_prediction',
    nativeWidth: 96,
    nativeHeight: 96,
    samplers: ALL_BUT_LCM,
    defaultSampler: 'ddim',
    defaultSteps: 50,
    defaultCfg: 7.5,
    previewModel: false,
    vaeEncoder: 'latent_sample',
  });
  assert.deepEqual(summary(await inspectModel(tiny('sdxl'))), {
    ...common,
    family: 'sdxl',
    predictionType: 'epsilon',
    nativeWidth: 128,
    nativeHeight: 128,
    samplers: ALL_BUT_LCM,
    defaultSampler: 'euler',
    defaultSteps: 50,
    defaultCfg: 5,
    previewModel: false,
    vaeEncoder: 'latent_parameters',
  });
  assert.deepEqual(summary(await inspectModel(tiny('lcm'))), {
    ...common,
    family: 'lcm',
    predictionType: 'epsilon',
    nativeWidth: 64,
    nativeHeight: 64,
    samplers: ['lcm'],
    defaultSampler: 'lcm',
    defaultSteps: 4,
    defaultCfg: 8.5,
    previewModel: true,
    vaeEncoder: 'latent_parameters',
    originalInferenceSteps: 50,
  });
  assert.deepEqual(summary(await inspectModel(tiny('sd1-inpaint'))), {
    ...common,
    inpaintUnet: true,
    family: 'sd1',
    predictionType: 'epsilon',
    nativeWidth: 64,
    nativeHeight: 64,
    samplers: ALL_BUT_LCM,
    defaultSampler: 'ddim',
    defaultSteps: 50,
    defaultCfg: 7.5,
    previewModel: false,
    vaeEncoder: 'latent_parameters',
  });
});

test('the manifest lists each ONNX file with its declared I/O and sizes that include external data', async () => {
  const sd1 = await inspectModel(tiny('sd1'));
  assert.equal(sd1.dir, tiny('sd1'));
  assert.deepEqual(sd1.components.map((c) => [c.name, c.file]).sort(), [
    ['text_encoder', 'text_encoder/model.onnx'],
    ['unet', 'unet/model.onnx'],
    ['vae_decoder', 'vae_decoder/model.onnx'],
    ['vae_encoder', 'vae_encoder/model.onnx'],
  ]);
  const unet = sd1.components.find((c) => c.name === 'unet');
  assert.equal(unet?.bytes, fileBytes(tiny('sd1'), 'unet/model.onnx', 'unet/weights.pb'));
  assert.deepEqual(unet?.inputs.map((t) => [t.name, t.type]), [['sample', 'float32'], ['timestep', 'float32'], ['encoder_hidden_states', 'float32']]);
  // What a loaded model holds: everything but the VAE encoder (text-to-image never opens it).
  assert.equal(sd1.sizeBytes, fileBytes(tiny('sd1'), 'text_encoder/model.onnx', 'unet/model.onnx', 'unet/weights.pb', 'vae_decoder/model.onnx'));
  const lcm = await inspectModel(tiny('lcm'));
  assert.equal(lcm.components.find((c) => c.name === 'unet')?.bytes, fileBytes(tiny('lcm'), 'unet/model.onnx', 'unet/model.onnx_data'));
  assert.ok(lcm.components.some((c) => c.name === 'vae_approx'));
});

test('inspectModel opens no ONNX Runtime session; loadModel reports the same manifest and opens the sessions', async () => {
  for (const name of TINY) {
    const before = onnxSessionsCreated();
    const manifest = await inspectModel(tiny(name));
    assert.equal(onnxSessionsCreated(), before, `${name}: inspectModel created a session`);
    const pipeline = await loadModel(tiny(name), { threads: 1 });
    try {
      assert.deepEqual(pipeline.manifest, manifest, name);
      assert.deepEqual(pipeline.info, { ...manifest, device: 'cpu' }, name);
      // Text encoder(s), UNet and VAE decoder; the VAE encoder and the preview model open on first use.
      assert.equal(onnxSessionsCreated() - before, name === 'sdxl' ? 4 : 3, name);
    } finally {
      await pipeline.dispose();
    }
  }
  assert.equal(onnxSessionsOpen(), 0, 'dispose() released every session');
});

test('latentMultiple and vaeScaleFactor follow the UNet and VAE configs, else the family defaults', async () => {
  const unetConfig = (dir: string) => join(dir, 'unet', 'config.json');
  // SD 1.5's UNet: four down blocks -> 8 x 2^3 = 64 px.
  const fourBlocks = await inspectChanged('sd1', (d) =>
    editJson(unetConfig(d), (c) => (c.down_block_types = ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'])),
  );
  assert.equal(fourBlocks.latentMultiple, 64);
  // Without down_block_types the number of block_out_channels counts: [16, 32] -> 2 blocks -> 16 px.
  assert.equal((await inspectChanged('sd1', (d) => editJson(unetConfig(d), (c) => delete c.down_block_types))).latentMultiple, 16);
  // No UNet config at all: family defaults, SD 64 px, SDXL 32 px (3 down blocks); native size from the family too.
  const sd1 = await inspectChanged('sd1', (d) => rmSync(unetConfig(d)));
  assert.deepEqual([sd1.latentMultiple, sd1.nativeWidth], [64, 512]);
  const sdxl = await inspectChanged('sdxl', (d) => rmSync(unetConfig(d)));
  assert.deepEqual([sdxl.latentMultiple, sdxl.nativeWidth], [32, 1024]);
  const sd2v = await inspectChanged('sd2-v', (d) => rmSync(unetConfig(d)));
  assert.equal(sd2v.nativeWidth, 768);
  // A VAE with three blocks scales by 4: native = sample_size 8 x 4, multiple = 4 x 2^0.
  const vae3 = await inspectChanged('sd1', (d) => editJson(join(d, 'vae_decoder', 'config.json'), (c) => (c.block_out_channels = [16, 16, 32])));
  assert.deepEqual([vae3.vaeScaleFactor, vae3.nativeWidth, vae3.latentMultiple], [4, 32, 4]);
});

test('families: SD2 epsilon is sd2, a 9-channel UNet is an inpainting UNet, and Turbo families are set, never detected', async () => {
  const sd2 = await inspectChanged('sd2-v', (d) => editJson(join(d, 'scheduler', 'scheduler_config.json'), (c) => (c.prediction_type = 'epsilon')));
  assert.equal(sd2.family, 'sd2');
  // A trailing-spacing scheduler (what Turbo models ship) does not make a folder Turbo.
  const trailing = await inspectChanged('sd1', (d) => editJson(join(d, 'scheduler', 'scheduler_config.json'), (c) => (c.timestep_spacing = 'trailing')));
  assert.equal(trailing.family, 'sd1');
  const turbo = await inspectModel(tiny('sd2-v'), { family: 'sd-turbo' });
  assert.deepEqual([turbo.family, turbo.defaultSteps, turbo.defaultCfg], ['sd-turbo', 4, 0]);
  assert.equal((await inspectModel(tiny('sdxl'), { family: 'sdxl-turbo' })).family, 'sdxl-turbo');
  await assert.rejects(inspectModel(tiny('sd1'), { family: 'sdxl-turbo' }), (err: unknown) => {
    assert.ok(err instanceof EngineError && err.code === 'invalid_argument');
    assert.match(err.message, /Cannot use family sdxl-turbo for .*sd1: its files describe an sd1 model/);
    return true;
  });
  await assert.rejects(inspectModel(tiny('sd1'), { family: 'lcm' }), /its files describe an sd1 model/);
  // The diffusers-script export has a symbolic channel axis, so the config's in_channels decides.
  const inpaint = await inspectChanged('sd1', (d) => editJson(join(d, 'unet', 'config.json'), (c) => (c.in_channels = 9)));
  assert.equal(inpaint.inpaintUnet, true);
});

test('broken folders fail inspection with one line naming the file and what is wrong', async (t) => {
  const cases: Array<[string, (typeof TINY)[number], (dir: string) => void, string, RegExp]> = [
    ['missing unet', 'sd1', (d) => rmSync(join(d, 'unet', 'model.onnx')), 'model_invalid', /unet\/model\.onnx is missing/],
    ['missing scheduler config', 'sd1', (d) => rmSync(join(d, 'scheduler'), { recursive: true }), 'model_invalid', /scheduler\/scheduler_config\.json is missing/],
    ['missing external data', 'sdxl', (d) => rmSync(join(d, 'unet', 'model.onnx_data')), 'model_invalid', /Cannot load unet\/model\.onnx: its external data file unet\/model\.onnx_data is missing/],
    ['corrupt onnx', 'sd2-v', (d) => writeFileSync(join(d, 'vae_decoder', 'model.onnx'), 'not a model'), 'model_invalid', /Cannot read vae_decoder\/model\.onnx: not a valid ONNX model/],
    ['truncated onnx', 'lcm', (d) => truncateSync(join(d, 'text_encoder', 'model.onnx'), 1000), 'model_invalid', /Cannot read text_encoder\/model\.onnx: not a valid ONNX model \(truncated/],
    ['bad JSON', 'sd1', (d) => writeFileSync(join(d, 'unet', 'config.json'), '{'), 'model_invalid', /unet\/config\.json.*invalid JSON/],
    ['bad down_block_types', 'sd1', (d) => editJson(join(d, 'unet', 'config.json'), (c) => (c.down_block_types = [])), 'model_invalid', /unet\/config\.json: down_block_types must be a non-empty list, got \[\]/],
    ['bad VAE block_out_channels', 'sd1', (d) => editJson(join(d, 'vae_decoder', 'config.json'), (c) => (c.block_out_channels = 'x')), 'model_invalid', /vae_decoder\/config\.json: block_out_channels/],
    ['vae_approx of the wrong shape', 'lcm', (d) => cpSync(join(d, 'text_encoder', 'model.onnx'), join(d, 'vae_approx', 'model.onnx')), 'model_invalid', /Cannot use vae_approx\/model\.onnx: expected one input \[1, 4, h, w\].*got inputs input_ids/],
    ['SDXL UNet without text_encoder_2', 'sdxl', (d) => { rmSync(join(d, 'text_encoder_2'), { recursive: true }); rmSync(join(d, 'tokenizer_2'), { recursive: true }); editJson(join(d, 'model_index.json'), (c) => delete c.text_encoder_2); }, 'model_invalid', /unet\/model\.onnx expects SDXL inputs/],
  ];
  for (const [name, model, breakIt, code, pattern] of cases) {
    await t.test(name, async () => {
      const before = onnxSessionsCreated();
      await assert.rejects(inspectChanged(model, breakIt), (err: unknown) => {
        assert.ok(err instanceof EngineError, `expected EngineError, got ${String(err)}`);
        assert.equal(err.code, code);
        assert.match(err.message, pattern);
        assert.doesNotMatch(err.message, /\n/);
        return true;
      });
      assert.equal(onnxSessionsCreated(), before);
    });
  }
  await assert.rejects(inspectModel(join(tiny('sd1'), 'nope')), (err: unknown) => err instanceof EngineError && err.code === 'model_not_found' && /not found, got .*nope/.test(err.message));
});
