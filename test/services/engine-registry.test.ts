/**
 * The engine registry: family defaults, model folders resolved against the file, and every start-up problem as one
 * line naming the file and the engine. Models are read with inspectModel() only (no session).
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { inspectModel, MODEL_FAMILIES, onnxSessionsCreated } from '../../src/engine/index.ts';
import { StartupError } from '../../src/domain/errors.ts';
import { planDevices } from '../../src/services/generation/device-plan.ts';
import { FAMILY_PRESETS, nativeResolutions, SD15_RESOLUTIONS, SDXL_RESOLUTIONS } from '../../src/services/generation/family-presets.ts';
import { defaultRegistry, loadEngines, resolveEngines, type Engine, type EngineEntry } from '../../src/services/generation/engine-registry.ts';
import { projectRoot } from '../../src/config/project-root.ts';

const tiny = (name: string) => join(projectRoot, 'models/tiny', name);
const demo = join(projectRoot, 'models/demo');

/** Resolves entries as a registry file in `dir` would hold them; the problems of a StartupError, or the engines. */
async function resolveAll(entries: EngineEntry[], dir = projectRoot): Promise<Engine[]> {
  return resolveEngines({ label: 'engines.json', baseDir: dir, entries }, { device: 'cpu' });
}
async function problemsOf(work: Promise<unknown>): Promise<string[]> {
  try {
    await work;
  } catch (err) {
    assert.ok(err instanceof StartupError, String(err));
    return [...err.problems];
  }
  assert.fail('expected a StartupError');
}

describe('engine registry', () => {
  let dir: string;
  /** Copies of the tiny SD1 folder whose UNet configs declare 2 and 4 down blocks: latent multiples 16 and 64 (SD 1.5's). */
  let multiple16: string;
  let multiple64: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sdapi-registry-'));
    const copy = (name: string, downBlocks: number) => {
      const folder = join(dir, name);
      cpSync(tiny('sd1'), folder, { recursive: true });
      const config = JSON.parse(readFileSync(join(folder, 'unet/config.json'), 'utf8')) as Record<string, unknown>;
      writeFileSync(join(folder, 'unet/config.json'), JSON.stringify({ ...config, down_block_types: Array.from({ length: downBlocks }, () => 'CrossAttnDownBlock2D') }));
      return folder;
    };
    multiple16 = copy('sd1-16', 2);
    multiple64 = copy('sd1-64', 4);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('fills every field but id and model from the family, and never opens a session', async () => {
    const sessions = onnxSessionsCreated();
    const [sd1, turbo, lcm, xl, xlTurbo] = await resolveAll([
      { id: 'sd15', model: 'models/tiny/sd1' },
      { id: 'turbo', model: 'models/tiny/sd1', family: 'sd-turbo' },
      { id: 'lcm', model: 'models/tiny/lcm' },
      { id: 'xl', model: 'models/tiny/sdxl' },
      { id: 'xl-turbo', model: 'models/tiny/sdxl', family: 'sdxl-turbo' },
    ]);
    assert.equal(onnxSessionsCreated(), sessions, 'inspectModel only');
    assert.deepEqual([sd1.steps, sd1.cfg], [{ min: 10, max: 150, default: 30 }, { min: 0, max: 35, default: 7 }]);
    assert.deepEqual(sd1.resolutions, SD15_RESOLUTIONS);
    assert.equal(sd1.model.dir, tiny('sd1'), 'model resolved against the registry folder');
    assert.equal(sd1.model.family, 'sd1');
    assert.equal(sd1.name, 'sd15');
    assert.match(sd1.description, /Stable Diffusion 1\.x, model sd1/);
    assert.equal(sd1.upscale, false);
    assert.equal(sd1.device, 'cpu');
    assert.deepEqual([turbo.model.family, turbo.steps, turbo.cfg.default], ['sd-turbo', { min: 1, max: 4, default: 1 }, 0]);
    assert.deepEqual([lcm.model.family, lcm.steps, lcm.cfg.default, lcm.samplers], ['lcm', { min: 2, max: 8, default: 4 }, 1.5, ['lcm']]);
    assert.deepEqual(xl.resolutions, SDXL_RESOLUTIONS);
    assert.deepEqual(xlTurbo.resolutions, ['512x512', ...SDXL_RESOLUTIONS]);
    assert.deepEqual(xlTurbo.steps, { min: 1, max: 4, default: 1 });
    assert.deepEqual(Object.keys(FAMILY_PRESETS).sort(), [...MODEL_FAMILIES].sort(), 'a preset for every engine family');
  });

  it('takes what the entry says: names, ranges, sizes, aliases, samplers (Stability names too), device, upscale', async () => {
    const [engine] = await resolveAll([
      {
        id: 'sdxl-turbo',
        name: 'SDXL Turbo',
        description: 'fast',
        model: tiny('sdxl'),
        family: 'sdxl-turbo',
        steps: { max: 3 },
        cfg_scale: { default: 0.5, max: 2 },
        resolutions: ['512x512', '100x60'],
        upscale: true,
        aliases: ['stable-diffusion-xl-1024-v1-0'],
        samplers: ['K_EULER_ANCESTRAL', 'euler'],
        default_sampler: 'euler',
        device: 'cuda:1',
      },
    ]);
    assert.deepEqual(
      { ...engine, model: engine.model.family },
      {
        id: 'sdxl-turbo',
        aliases: ['stable-diffusion-xl-1024-v1-0'],
        name: 'SDXL Turbo',
        description: 'fast',
        model: 'sdxl-turbo',
        resolutions: ['512x512', '100x60'],
        steps: { min: 1, max: 3, default: 1 },
        cfg: { min: 0, max: 2, default: 0.5 },
        samplers: ['euler_a', 'euler'],
        defaultSampler: 'euler',
        upscale: true,
        device: 'cuda:1',
      },
    );
  });

  it('refuses a resolution that is not a multiple of the latent multiple (16, and 64 as in SD 1.5) unless the engine upscales', async () => {
    const m16 = (await inspectModel(multiple16)).latentMultiple;
    const m64 = (await inspectModel(multiple64)).latentMultiple;
    assert.deepEqual([m16, m64], [16, 64]);
    const problems = await problemsOf(
      resolveAll([
        { id: 'm16', model: multiple16, resolutions: ['64x64', '80x48', '72x56'] },
        { id: 'sd15', model: multiple64, resolutions: [...SD15_RESOLUTIONS, '520x512', '512x600'] },
        { id: 'm16-up', model: multiple16, resolutions: ['72x56', '1344x768'], upscale: true },
      ]),
    );
    assert.deepEqual(problems, [
      `engines.json: engine "m16": resolution 72x56 is not a multiple of 16 px, the latent multiple of ${multiple16} (use sizes that are, or "upscale": true)`,
      `engines.json: engine "sd15": resolution 520x512 is not a multiple of 64 px, the latent multiple of ${multiple64} (use sizes that are, or "upscale": true)`,
      `engines.json: engine "sd15": resolution 512x600 is not a multiple of 64 px, the latent multiple of ${multiple64} (use sizes that are, or "upscale": true)`,
    ]);
    // The family lists themselves fit a 64-multiple model.
    const [ok] = await resolveAll([{ id: 'sd15', model: multiple64 }]);
    assert.deepEqual(ok.resolutions, SD15_RESOLUTIONS);
  });

  it('reports every problem of a registry, one line each, naming the file and the engine', async () => {
    const problems = await problemsOf(
      resolveAll([
        { id: 'a', model: tiny('sd1'), aliases: ['b'] },
        { id: 'b', model: tiny('sd1') },
        { id: 'c', model: tiny('sd1'), aliases: ['a'], steps: { min: 20, max: 10 } },
        { id: 'd', model: tiny('sd1'), steps: { default: 200 }, cfg_scale: { min: 5, default: 2 } },
        { id: 'e', model: tiny('lcm'), samplers: ['euler'] },
        { id: 'f', model: tiny('sd1'), default_sampler: 'lcm' },
        { id: 'g', model: join(dir, 'missing') },
        { id: 'h', model: join(dir, 'missing') },
        { id: 'i', model: tiny('sd1'), family: 'sdxl' },
        { id: 'j', model: tiny('sd1'), resolutions: ['4x4', '64x64', '64x64'] },
      ]),
    );
    assert.deepEqual(problems, [
      'engines.json: engine "b": id "b" is already used by engine "a"',
      'engines.json: engine "c": id "a" is already used by engine "a"',
      'engines.json: engine "c": steps range is inverted: min 20 > max 10',
      'engines.json: engine "d": steps.default 200 is outside steps 10–150',
      'engines.json: engine "d": cfg_scale.default 2 is outside cfg_scale 5–35',
      "engines.json: engine \"e\": sampler \"euler\" is not one of the model's: lcm",
      "engines.json: engine \"f\": default_sampler \"lcm\" is not one of the engine's samplers: euler, euler_a, ddim, dpmpp_2m, dpmpp_2m_karras, pndm, lms",
      `engines.json: engines "g", "h": model ${join(dir, 'missing')}: Cannot open model: folder not found, got ${join(dir, 'missing')}`,
      `engines.json: engine "i": model ${tiny('sd1')}: Cannot use family sdxl for ${tiny('sd1')}: its files describe an sd1 model`,
      'engines.json: engine "j": resolution 4x4: each side must be between 8 and 8192 px',
      'engines.json: engine "j": resolutions lists a size twice',
    ]);
  });

  it('a registry file: bad JSON, unknown keys (named), unknown family, bad device and a missing file each stop start-up', async () => {
    const file = (name: string, text: string) => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    const load = (path: string) => loadEngines({ file: path, defaultModelDir: demo, demo: true, device: 'cpu' });
    assert.deepEqual(await problemsOf(load(join(dir, 'none.json'))), [`${join(dir, 'none.json')}: cannot read the engine registry (no such file)`]);
    const bad = file('bad.json', '{"engines": [');
    const [json] = await problemsOf(load(bad));
    assert.match(json, new RegExp(`^${bad}: the engine registry is not valid JSON \\(`));
    const shape = file(
      'shape.json',
      JSON.stringify({
        engines: [
          { id: 'ok', model: '../sd1-64' },
          { id: 'x', model: tiny('sd1'), colour: 'red', steps: { min: 1, most: 3 } },
          { id: 'y', model: tiny('sd1'), family: 'sd3', device: 'gpu' },
          { id: 'bad id!', model: tiny('sd1') },
          { model: tiny('sd1') },
        ],
        version: 2,
      }),
    );
    assert.deepEqual(await problemsOf(load(shape)), [
      `${shape}: unknown key "version"`,
      `${shape}: engine "x" (engines[1]): unknown key "colour"`,
      `${shape}: engine "x" (engines[1]): unknown key "most" in steps`,
      `${shape}: engine "y" (engines[2]): family must be one of ${MODEL_FAMILIES.join(', ')}, got "sd3"`,
      `${shape}: engine "y" (engines[2]): device must be cpu, cuda or cuda:N, got "gpu"`,
      `${shape}: engine "bad id!" (engines[3]): id may contain only letters, digits, ".", "_" and "-" (at most 100), got "bad id!"`,
      `${shape}: (engines[4]): id is required`,
      // The valid entry is still checked against its model (relative to the file's folder: ../sd1-64 is outside it).
      `${shape}: engine "ok": model ${join(tmpdir(), 'sd1-64')}: Cannot open model: folder not found, got ${join(tmpdir(), 'sd1-64')}`,
    ]);
    const good = file('good.json', JSON.stringify({ engines: [{ id: 'sd15', model: 'sd1-64' }] }));
    const [engine] = await load(good);
    assert.equal(engine.model.dir, multiple64, 'relative to the registry file');
  });

  it('the default registry: the tutorial ids upscaled from the demo model, and the demo at its native sizes', async () => {
    const engines = await resolveEngines(await defaultRegistry(demo, true), { device: 'cpu' });
    assert.deepEqual(
      engines.map((e) => [e.id, e.upscale, e.resolutions.length]),
      [
        ['stable-diffusion-xl-1024-v1-0', true, 9],
        ['stable-diffusion-xl-1024-v0-9', true, 9],
        ['stable-diffusion-v1-6', true, 9],
        ['sdapi-demo-shapes', false, engines[3].resolutions.length],
      ],
    );
    assert.deepEqual(engines[0].resolutions, SDXL_RESOLUTIONS);
    assert.deepEqual(engines[2].resolutions, SD15_RESOLUTIONS);
    const shapes = engines[3];
    assert.equal(shapes.name, 'sdapi demo — coloured shapes');
    // The tutorial ids say they are served by the demo model, not by what they name.
    assert.deepEqual(engines.slice(0, 3).map((e) => e.name), [
      'Stable Diffusion XL 1.0 sizes — sdapi demo model',
      'Stable Diffusion XL 0.9 sizes — sdapi demo model',
      'Stable Diffusion 1.6 sizes — sdapi demo model',
    ]);
    assert.match(shapes.description, /small demo model .* draws simple shapes in named colours/);
    assert.equal(engines[0].description, "Tutorial id, served by the sdapi demo model (coloured shapes): Stable Diffusion XL 1.0 sizes, generated at the model's native size and upscaled.");
    // Native sizes come from the manifest: the native size first, each side a multiple of the latent multiple.
    const manifest = await inspectModel(demo);
    assert.equal(shapes.resolutions[0], `${manifest.nativeWidth}x${manifest.nativeHeight}`);
    assert.ok(shapes.resolutions.length >= 2);
    for (const size of shapes.resolutions) {
      const [w, h] = size.split('x').map(Number);
      assert.equal(w % manifest.latentMultiple, 0, size);
      assert.equal(h % manifest.latentMultiple, 0, size);
      assert.ok(Math.abs((w * h) / (manifest.nativeWidth * manifest.nativeHeight) - 1) < 0.35, `${size} keeps about the native area`);
    }
    assert.deepEqual(nativeResolutions({ nativeWidth: 512, nativeHeight: 512, latentMultiple: 64 }), ['512x512', '576x448', '448x576', '640x448', '448x640', '704x384', '384x704']);
    const other = await defaultRegistry(tiny('sd1'), false);
    assert.equal(other.entries[3].name, 'sd1 at its native sizes');
    assert.equal(other.entries[0].name, 'Stable Diffusion XL 1.0');
  });

  it('devices: without a CUDA provider, CUDA engines run on the CPU with one warning; strict refuses to start', async () => {
    const engines = await resolveAll([
      { id: 'a', model: tiny('sd1'), device: 'cuda' },
      { id: 'b', model: tiny('sdxl'), device: 'cuda:1' },
      { id: 'c', model: tiny('sd1') },
    ]);
    const runtime = { onnxruntimeNode: '1.30.0', providers: [{ name: 'cpu', bundled: true, installed: true }, { name: 'cuda', bundled: false, installed: false }] };
    const plan = planDevices(engines, { strict: false, runtime });
    assert.deepEqual(plan.engines.map((e) => e.device), ['cpu', 'cpu', 'cpu']);
    assert.equal(plan.warnings.length, 1);
    assert.match(plan.warnings[0], /no CUDA execution provider .*: a \(cuda:0\), b \(cuda:1\) run on the CPU instead$/);
    const problems = await problemsOf(Promise.resolve().then(() => planDevices(engines, { strict: true, runtime })));
    assert.equal(problems.length, 2);
    assert.match(problems[0], /^engine "a": device cuda:0 is not available: .*SDAPI_DEVICE_STRICT=1/);
    const withCuda = planDevices(engines, { strict: true, runtime: { ...runtime, providers: [{ name: 'cuda', bundled: false, installed: true }] } });
    assert.deepEqual([withCuda.engines.map((e) => e.device), withCuda.warnings], [['cuda:0', 'cuda:1', 'cpu'], []]);
  });
});
