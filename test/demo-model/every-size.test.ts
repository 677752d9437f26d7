/**
 * Every size an engine offers generates, at exactly that size: one image per engine × resolution of the default
 * registry (on the demo model), cycling through the engine's samplers so each is tried at some size, and the tiny
 * SD1 and SDXL models at their family's full-size lists without upscaling (so each size must fit the latent
 * multiple as it is). One runtime, one image per request, the engine's minimum steps.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { projectRoot } from '../../src/config/load-config.ts';
import { SD15_RESOLUTIONS, SDXL_RESOLUTIONS } from '../../src/services/generation/family-presets.ts';
import { defaultRegistry, type EngineEntry } from '../../src/services/generation/engine-registry.ts';
import { readTextChunks } from '../../src/services/generation/png-text.ts';
import { createApiContext, waitForResponse, type ApiContext } from '../helpers/api-context.ts';

const demo = join(projectRoot, 'models/demo');
const hasDemo = existsSync(join(demo, 'model_index.json'));
const tiny = (name: string) => join(projectRoot, 'models/tiny', name);

describe('every offered size generates at exactly that size', { skip: hasDemo ? false : 'models/demo is not built' }, () => {
  let ctx: ApiContext;
  let user: { id: string; token: string };
  before(async () => {
    const defaults = (await defaultRegistry(demo, true)).entries;
    // The tiny models natively, with their family's lists; cfg 0 runs one UNet batch instead of two.
    const native: EngineEntry[] = [
      { id: 'tiny-sd1-native', model: tiny('sd1'), steps: { min: 1 }, cfg_scale: { default: 0 } },
      { id: 'tiny-sdxl-native', model: tiny('sdxl'), steps: { min: 1 }, cfg_scale: { default: 0 } },
    ];
    ctx = await createApiContext({ worker: true, overrides: { engines: [...defaults, ...native] } });
    user = await ctx.user('sizes@example.com', 1_000_000);
  });
  after(() => ctx.close());

  /** Posts one request per (resolution, sampler), then checks every PNG. */
  async function generateAll(engineId: string, cases: { resolution: string; sampler?: string }[], steps: number): Promise<void> {
    const posted: { thread: string; resolution: string; sampler?: string }[] = [];
    for (const c of cases) {
      const thread = (await ctx.request(user.token, { method: 'POST', url: '/api/v1/threads', payload: { ai_version_code: 'stablediffusion_text2img' } })).json().data.guid;
      const body = { engine: engineId, resolution: c.resolution, steps, prompts: [{ text: 'a red circle on a blue background', weight: 1 }], seed: 7, ...(c.sampler ? { sampler: c.sampler } : {}) };
      const created = await ctx.request(user.token, { method: 'POST', url: `/api/v1/threads/${thread}/entry`, payload: body });
      assert.equal(created.statusCode, 201, `${engineId} ${c.resolution}: ${created.body}`);
      posted.push({ thread, ...c });
    }
    for (const p of posted) {
      const [request, response] = await waitForResponse(ctx, user.token, p.thread, 300_000);
      const what = `${engineId} ${p.resolution} ${p.sampler ?? 'default sampler'}`;
      assert.equal(request.status, 'done', `${what}: ${response.error}`);
      assert.equal(response.content.length, 1);
      const item = response.content[0];
      assert.equal(item.dimensions, p.resolution, what);
      const png = (await ctx.request(null, { method: 'GET', url: new URL(item.url).pathname })).rawPayload;
      const meta = await sharp(png).metadata();
      assert.equal(`${meta.width}x${meta.height}`, p.resolution, `${what}: the PNG's own dimensions`);
      const parameters = readTextChunks(png).parameters;
      assert.match(parameters, new RegExp(`Steps: ${steps}, Sampler: ${p.sampler ?? '\\w+'}, .*Size: ${p.resolution}, `), what);
    }
  }

  it('the default registry: every engine × resolution, every sampler at some size', async () => {
    const engines = ((await ctx.request(user.token, { method: 'GET', url: '/api/v1/engines' })).json().data as Record<string, any>[]).filter((e) => !e.id.startsWith('tiny-'));
    assert.deepEqual(
      engines.map((e) => e.id),
      ['stable-diffusion-xl-1024-v1-0', 'stable-diffusion-xl-1024-v0-9', 'stable-diffusion-v1-6', 'sdapi-demo-shapes'],
    );
    for (const engine of engines) {
      const resolutions = engine.resolutions as string[];
      const samplers = engine.samplers as string[];
      const cases = resolutions.map((resolution, i) => ({ resolution, sampler: samplers[i % samplers.length] }));
      // Samplers the resolutions did not reach are tried at the first size.
      for (const sampler of samplers.slice(resolutions.length)) cases.push({ resolution: resolutions[0], sampler });
      await generateAll(engine.id, cases, engine.steps.min);
    }
  });

  it('the tiny SD1 and SDXL models at their family sizes, natively (each a multiple of the latent multiple)', async () => {
    const engines = (await ctx.request(user.token, { method: 'GET', url: '/api/v1/engines' })).json().data as Record<string, any>[];
    const sd1 = engines.find((e) => e.id === 'tiny-sd1-native')!;
    const sdxl = engines.find((e) => e.id === 'tiny-sdxl-native')!;
    assert.deepEqual([sd1.resolutions, sd1.upscaled], [SD15_RESOLUTIONS, false]);
    assert.deepEqual([sdxl.resolutions, sdxl.upscaled], [SDXL_RESOLUTIONS, false]);
    await generateAll(sd1.id, SD15_RESOLUTIONS.map((resolution) => ({ resolution })), 1);
    await generateAll(sdxl.id, SDXL_RESOLUTIONS.map((resolution) => ({ resolution })), 1);
  });
});
