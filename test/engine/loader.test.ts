import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EngineError } from '../../src/engine/errors.ts';
import { legacySchedulerFixes, loadModelFolder } from '../../src/engine/model/loader.ts';
import { describeUnet, penultimateHiddenState } from '../../src/engine/model/inspect.ts';
import type { LoadedModel } from '../../src/engine/model/types.ts';
import { createScheduler } from '../../src/engine/schedulers/index.ts';
import { copyTiny, tiny } from './pipeline-helpers.ts';

async function withModel(dir: string, check: (model: LoadedModel) => void | Promise<void>): Promise<void> {
  const model = await loadModelFolder(dir, { threads: 1 });
  try {
    await check(model);
  } finally {
    await model.dispose();
  }
}

async function rejectsWith(dir: string, code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(loadModelFolder(dir, { threads: 1 }), (err: unknown) => {
    assert.ok(err instanceof EngineError, `expected EngineError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    return true;
  });
}

test('sd1 (diffusers script export): int32 ids, float [batch] timestep, weights.pb, PNDM', async () => {
  await withModel(tiny('sd1'), async (m) => {
    assert.equal(m.manifest.family, 'sd1');
    assert.equal(m.manifest.predictionType, 'epsilon');
    assert.equal(m.manifest.defaultSampler, 'pndm');
    assert.equal(m.manifest.nativeWidth, 64); // unet/config.json sample_size 8 x 8
    assert.equal(m.textEncoders.length, 1);
    assert.equal(m.textEncoders[0].idsType, 'int32');
    assert.equal(m.textEncoders[0].sequenceOutput, 'last_hidden_state');
    assert.equal(m.textEncoders[0].tokenizer.padId, m.textEncoders[0].tokenizer.eosId);
    assert.deepEqual(m.unet.timestep, { type: 'float32', rank: 1 });
    assert.equal(m.unet.crossAttentionDim, 32);
    assert.equal(m.unet.sdxl, undefined);
    assert.equal(m.unet.lcm, undefined);
    assert.equal(m.vae.scalingFactor, 0.18215);
    assert.equal(m.forceZerosForEmptyPrompt, false);
    assert.equal((await m.loadVaeEncoder()).output, 'latent_sample');
  });
});

test('sd2-v (optimum <= 1.22): int64 ids, int64 [steps] timestep, v_prediction, pad "!"', async () => {
  await withModel(tiny('sd2-v'), (m) => {
    assert.equal(m.manifest.family, 'sd2-v');
    assert.equal(m.manifest.predictionType, 'v_prediction');
    assert.equal(m.manifest.defaultSampler, 'ddim');
    assert.equal(m.manifest.nativeWidth, 96);
    assert.equal(m.textEncoders[0].idsType, 'int64');
    assert.equal(m.textEncoders[0].tokenizer.padId, 0);
    assert.deepEqual(m.unet.timestep, { type: 'int64', rank: 1 });
    assert.equal(m.unet.crossAttentionDim, 48);
  });
});

test('sdxl (optimum 1.23): two encoders, penultimate hidden states, text_embeds/time_ids, 0.13025', async () => {
  await withModel(tiny('sdxl'), async (m) => {
    assert.equal(m.manifest.family, 'sdxl');
    assert.equal(m.manifest.defaultSampler, 'euler');
    assert.equal(m.manifest.defaultCfg, 5);
    assert.deepEqual(m.textEncoders.map((e) => e.name), ['text_encoder', 'text_encoder_2']);
    assert.deepEqual(m.textEncoders.map((e) => e.sequenceOutput), ['hidden_states.1', 'hidden_states.2']);
    assert.deepEqual(m.textEncoders.map((e) => e.pooledOutput), [undefined, 'text_embeds']);
    assert.deepEqual(m.textEncoders.map((e) => e.tokenizer.padId === e.tokenizer.eosId), [true, false]);
    assert.equal(m.textEncoders[1].tokenizer.padId, 0);
    assert.equal(m.unet.crossAttentionDim, 80);
    assert.deepEqual(m.unet.sdxl, { textEmbedsType: 'float32', textEmbedsDim: 40, timeIdsType: 'float32', timeIdsLength: 6 });
    assert.deepEqual(m.unet.timestep, { type: 'int64', rank: 1 });
    assert.equal(m.vae.scalingFactor, 0.13025);
    assert.equal(m.forceZerosForEmptyPrompt, true);
    assert.equal((await m.loadVaeEncoder()).output, 'latent_parameters');
  });
});

test('lcm (optimum >= 1.24): float scalar timestep, timestep_cond [B,256], LCM only', async () => {
  await withModel(tiny('lcm'), (m) => {
    assert.equal(m.manifest.family, 'lcm');
    assert.deepEqual(m.manifest.samplers, ['lcm']);
    assert.equal(m.manifest.defaultSampler, 'lcm');
    assert.equal(m.manifest.defaultSteps, 4);
    assert.deepEqual(m.unet.timestep, { type: 'float32', rank: 0 });
    assert.deepEqual(m.unet.lcm, { type: 'float32', dim: 256 });
  });
});

test('describeUnet reads fp16 I/O and every timestep generation from metadata alone', () => {
  const unet = describeUnet(
    [
      { name: 'sample', type: 'float16', shape: ['batch', 4, 'h', 'w'] },
      { name: 'timestep', type: 'float16', shape: ['batch'] },
      { name: 'encoder_hidden_states', type: 'float16', shape: ['batch', 'sequence', 768] },
    ],
    [{ name: 'out_sample', type: 'float16', shape: ['batch', 4, 'h', 'w'] }],
    'unet',
    undefined,
  );
  assert.deepEqual(unet.timestep, { type: 'float16', rank: 1 });
  assert.equal(unet.sampleType, 'float16');
  assert.equal(unet.crossAttentionDim, 768);
  assert.throws(
    () => describeUnet([{ name: 'sample', type: 'float32', shape: [] }], [], 'unet/model.onnx', undefined),
    /unet\/model.onnx has no input "encoder_hidden_states"/,
  );
  assert.equal(
    penultimateHiddenState(Array.from({ length: 33 }, (_, i) => ({ name: `hidden_states.${i}`, type: 'float32', shape: [] })), 'te2'),
    'hidden_states.31',
  );
});

test('a missing folder is model_not_found', async () => {
  await rejectsWith(join(tiny('sd1'), 'nope'), 'model_not_found', /not found/);
});

test('broken folders are rejected at load time with the file named', async (t) => {
  const cases: Array<[string, 'sd1' | 'sd2-v' | 'sdxl' | 'lcm', (dir: string) => void, RegExp]> = [
    ['missing unet', 'sd1', (d) => rmSync(join(d, 'unet', 'model.onnx')), /unet\/model\.onnx is missing/],
    ['missing tokenizer file', 'sd1', (d) => rmSync(join(d, 'tokenizer', 'merges.txt')), /tokenizer\/merges\.txt is missing/],
    ['missing tokenizer_2', 'sdxl', (d) => rmSync(join(d, 'tokenizer_2'), { recursive: true }), /tokenizer_2\/vocab\.json is missing/],
    ['bad JSON', 'sd1', (d) => writeFileSync(join(d, 'model_index.json'), '{"_class_name": '), /model_index\.json.*invalid JSON/],
    ['bad scheduler JSON', 'lcm', (d) => writeFileSync(join(d, 'scheduler', 'scheduler_config.json'), '[1]'), /scheduler_config\.json.*JSON object/],
    ['missing external data', 'sd1', (d) => rmSync(join(d, 'unet', 'weights.pb')), /unet[\\/]model\.onnx/],
    ['corrupt onnx', 'sd2-v', (d) => writeFileSync(join(d, 'vae_decoder', 'model.onnx'), 'not a model'), /vae_decoder[\\/]model\.onnx/],
    [
      'encoder width != cross-attention dim',
      'sd2-v',
      (d) => cpSync(join(tiny('sd1'), 'text_encoder'), join(d, 'text_encoder'), { recursive: true, force: true }),
      /width 32 != unet\/model\.onnx cross-attention dim 48/,
    ],
    ['bad scaling factor', 'sd1', (d) => writeFileSync(join(d, 'vae_decoder', 'config.json'), '{"scaling_factor": "x"}'), /scaling_factor/],
  ];
  for (const [name, model, breakIt, pattern] of cases) {
    await t.test(name, async () => {
      const { dir, cleanup } = copyTiny(model);
      try {
        breakIt(dir);
        await rejectsWith(dir, 'model_invalid', pattern);
      } finally {
        cleanup();
      }
    });
  }
});

test('legacy scheduler configs: steps_offset != 1 becomes 1 for SD1/SD2 (diffusers deprecation path), not for SDXL/LCM', async () => {
  const rewrite = (dir: string, change: (config: Record<string, unknown>) => void): void => {
    const path = join(dir, 'scheduler', 'scheduler_config.json');
    const config = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    change(config);
    writeFileSync(path, JSON.stringify(config));
  };
  const cases: Array<['sd1' | 'sd2-v' | 'sdxl' | 'lcm', (c: Record<string, unknown>) => void, number, boolean]> = [
    ['sd1', (c) => (c.steps_offset = 0), 1, true],
    ['sd1', (c) => delete c.steps_offset, 1, true], // missing key = the class default 0, rewritten too
    ['sd2-v', (c) => (c.steps_offset = 2), 1, true],
    ['sd1', () => {}, 1, false],
    ['sdxl', (c) => (c.steps_offset = 0), 0, false], // StableDiffusionXLPipeline keeps the config as written
    ['lcm', (c) => (c.steps_offset = 0), 0, false],
  ];
  for (const [name, change, expected, warns] of cases) {
    const { dir, cleanup } = copyTiny(name);
    try {
      rewrite(dir, change);
      const messages: string[] = [];
      const model = await loadModelFolder(dir, { threads: 1, logger: (m) => messages.push(m) });
      try {
        assert.equal(model.schedulerConfig.steps_offset, expected, name);
        assert.equal(messages.some((m) => /scheduler_config\.json is outdated: steps_offset/.test(m)), warns, `${name}: ${messages.join(' | ')}`);
        if (name === 'sd1') {
          // The corrected offset reaches every sampler: DDIM leading spacing for 3 steps is 667, 334, 1 (not 666, 333, 0).
          assert.deepEqual(createScheduler('ddim', model.schedulerConfig, 3).timesteps, [667, 334, 1]);
        }
      } finally {
        await model.dispose();
      }
    } finally {
      cleanup();
    }
  }
  // clip_sample: true is switched off as well (diffusers StableDiffusionPipeline).
  assert.deepEqual(legacySchedulerFixes({ _class_name: 'DDIMScheduler', steps_offset: 1, clip_sample: true }, 'sd2', undefined), {
    _class_name: 'DDIMScheduler',
    steps_offset: 1,
    clip_sample: false,
  });
});
