/**
 * AUTOMATIC1111's API under /sdapi/v1: the request bodies of A1111's own API guide (wiki "API": `{"prompt":
 * "maltese puppy", "steps": 5}`, override_settings) and a full body with A1111's field names, checked field by field
 * with `info` parsed as JSON; Basic auth as --api-auth clients send it; the lists; progress and interrupt of the
 * caller's own request only; 402 and 422 in FastAPI's shape; and the same pixels through A1111, OpenAI and threads.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import type { EngineEntry } from '../../src/services/generation/engine-registry.ts';
import type { GenerateControl, GenerateRequest, GeneratedImage, ImageGenerator, ModelTarget } from '../../src/services/generation/image-generator.ts';
import { createApiContext, TEST_MODEL_DIR, type ApiContext } from '../helpers/api-context.ts';

/** An engine that takes A1111's defaults (512×512) and its wiki's 5 steps, on the tiny test model. */
const A1111_ENGINE: EngineEntry = { id: 'tiny-a1111', model: TEST_MODEL_DIR, steps: { min: 1, max: 50, default: 4 }, resolutions: ['512x512', '64x64'], upscale: true };
const OTHER_ENGINE: EngineEntry = { id: 'tiny-other', model: TEST_MODEL_DIR, aliases: ['tiny-alias'], steps: { min: 1, max: 50, default: 3 }, resolutions: ['64x64', '64x96'] };
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const basic = (token: string, user = 'anyone') => `Basic ${Buffer.from(`${user}:${token}`).toString('base64')}`;

async function txt2img(ctx: ApiContext, token: string, body: Record<string, unknown>) {
  return ctx.request(null, { method: 'POST', url: '/sdapi/v1/txt2img', headers: { authorization: basic(token) }, payload: body });
}

describe('AUTOMATIC1111 API (/sdapi/v1)', () => {
  let ctx: ApiContext;
  let user: { id: string; token: string };

  before(async () => {
    ctx = await createApiContext({ worker: true, overrides: { engines: [A1111_ENGINE, OTHER_ENGINE] } });
    user = await ctx.user('a1111@example.com', 1000);
  });
  after(() => ctx.close());

  it("the wiki's first payload ({prompt, steps: 5}) answers images, parameters and info with A1111's defaults", async () => {
    const res = await txt2img(ctx, user.token, { prompt: 'maltese puppy', steps: 5 });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.deepEqual(Object.keys(body).sort(), ['images', 'info', 'parameters']);
    assert.equal(body.images.length, 1);
    const png = Buffer.from(body.images[0], 'base64');
    assert.deepEqual(png.subarray(0, 8), PNG_SIGNATURE);
    const meta = await sharp(png).metadata();
    assert.equal(meta.width, 512);
    assert.equal(meta.height, 512);

    assert.equal(body.parameters.prompt, 'maltese puppy');
    assert.equal(body.parameters.steps, 5);
    assert.equal(body.parameters.width, 512);
    assert.equal(body.parameters.height, 512);
    assert.equal(body.parameters.seed, -1);
    assert.equal(body.parameters.batch_size, 1);
    assert.equal(body.parameters.n_iter, 1);
    assert.equal(body.parameters.negative_prompt, '');

    assert.equal(typeof body.info, 'string');
    const info = JSON.parse(body.info);
    assert.equal(info.prompt, 'maltese puppy');
    assert.deepEqual(info.all_prompts, ['maltese puppy']);
    assert.equal(typeof info.seed, 'number');
    assert.ok(info.seed > 0, 'seed -1 became a real seed');
    assert.deepEqual(info.all_seeds, [info.seed]);
    assert.equal(info.steps, 5);
    assert.equal(info.width, 512);
    assert.equal(info.height, 512);
    assert.equal(info.sd_model_name, 'tiny-a1111', 'the first engine offering 512x512');
    assert.equal(info.cfg_scale, 7);
    assert.equal(typeof info.sampler_name, 'string');
    assert.match(info.infotexts[0], new RegExp(`^maltese puppy\\nSteps: 5, Sampler: ${info.sampler_name.replace(/[+]/g, '\\+')}, CFG scale: 7, Seed: ${info.seed}, Size: 512x512, Model: tiny-a1111`));
  });

  it("the wiki's override_settings payload: other settings ignored, sd_model_checkpoint selects the engine (an alias too)", async () => {
    const res = await txt2img(ctx, user.token, { prompt: 'cirno', steps: 20, width: 64, height: 64, override_settings: { filter_nsfw: true, CLIP_stop_at_last_layers: 2, sd_model_checkpoint: 'tiny-alias' } });
    assert.equal(res.statusCode, 200, res.body);
    const info = JSON.parse(res.json().info);
    assert.equal(info.sd_model_name, 'tiny-other');
    assert.equal(info.steps, 20);
    assert.deepEqual(res.json().parameters.override_settings, { filter_nsfw: true, CLIP_stop_at_last_layers: 2, sd_model_checkpoint: 'tiny-alias' });
  });

  it('a full body with A1111 names: seeds per image, sampler, negative prompt, batch, unknown fields accepted and echoed', async () => {
    const request = {
      prompt: 'a red circle',
      negative_prompt: 'blurry',
      styles: ['neon-punk', 'my-own-style'],
      seed: 1000,
      subseed: -1,
      subseed_strength: 0,
      sampler_name: 'DPM++ 2M',
      scheduler: 'Karras',
      batch_size: 2,
      n_iter: 1,
      steps: 6,
      cfg_scale: 5.5,
      width: 64,
      height: 64,
      restore_faces: false,
      tiling: false,
      enable_hr: false,
      override_settings: { sd_model_checkpoint: 'tiny-other' },
      override_settings_restore_afterwards: true,
      script_args: [],
      send_images: true,
      save_images: false,
      alwayson_scripts: {},
    };
    const res = await txt2img(ctx, user.token, request);
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.equal(body.images.length, 2);
    const info = JSON.parse(body.info);
    assert.deepEqual(info.all_seeds, [1000, 1001], 'image i uses seed + i');
    assert.equal(info.seed, 1000);
    assert.equal(info.sampler_name, 'DPM++ 2M Karras');
    assert.equal(info.cfg_scale, 5.5);
    assert.equal(info.negative_prompt, 'blurry');
    assert.deepEqual(info.all_negative_prompts, ['blurry', 'blurry']);
    assert.equal(info.batch_size, 2);
    assert.deepEqual(info.extra_generation_params, { Style: 'neon-punk' });
    assert.equal(info.infotexts.length, 2);
    assert.match(info.infotexts[1], /^a red circle\nNegative prompt: blurry\nSteps: 6, Sampler: DPM\+\+ 2M Karras, CFG scale: 5.5, Seed: 1001, Size: 64x64, Model: tiny-other, Style: neon-punk$/);
    assert.deepEqual(body.parameters.alwayson_scripts, {});
    assert.equal(body.parameters.save_images, false);
    assert.equal(body.parameters.sampler_name, 'DPM++ 2M');
    // The request is an ordinary entry of the account's "A1111 API" thread.
    const threads = (await ctx.request(user.token, { method: 'GET', url: '/api/v1/threads' })).json().data as { guid: string; title: string }[];
    const thread = threads.find((t) => t.title === 'A1111 API');
    assert.ok(thread);
    const entries = (await ctx.request(user.token, { method: 'GET', url: `/api/v1/threads/${thread.guid}/entries` })).json().data as Record<string, any>[];
    const last = entries.filter((e) => e.type === 'request').pop();
    assert.deepEqual(last?.content, {
      prompts: [
        { text: 'a red circle', weight: 1 },
        { text: 'blurry', weight: -1 },
      ],
      engine: 'tiny-other',
      style: 'neon-punk',
      images: 2,
      steps: 6,
      resolution: '64x64',
      seed: 1000,
      cfg_scale: 5.5,
      sampler: 'dpmpp_2m_karras',
    });
  });

  it('send_images: false answers no images, still with info', async () => {
    const res = await txt2img(ctx, user.token, { prompt: 'quiet', steps: 2, width: 64, height: 64, seed: 3, send_images: false });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json().images, []);
    assert.deepEqual(JSON.parse(res.json().info).all_seeds, [3]);
  });

  it('auth: Basic with any user name and the token as the password, or the bearer token; otherwise 401 with WWW-Authenticate', async () => {
    const viaBasic = await ctx.request(null, { method: 'GET', url: '/sdapi/v1/sd-models', headers: { authorization: basic(user.token, 'whoever') } });
    assert.equal(viaBasic.statusCode, 200);
    const viaBearer = await ctx.request(user.token, { method: 'GET', url: '/sdapi/v1/sd-models' });
    assert.equal(viaBearer.statusCode, 200);
    for (const authorization of [basic('wrong'), 'Basic !!!', 'Bearer wrong', undefined]) {
      const res = await ctx.request(null, { method: 'GET', url: '/sdapi/v1/options', headers: authorization ? { authorization } : {} });
      assert.equal(res.statusCode, 401, String(authorization));
      assert.equal(res.headers['www-authenticate'], 'Basic');
      assert.equal(res.json().detail, 'Incorrect username or password');
    }
  });

  it('sd-models, samplers and options list what txt2img accepts', async () => {
    const models = (await ctx.request(user.token, { method: 'GET', url: '/sdapi/v1/sd-models' })).json();
    assert.deepEqual(
      models.map((m: { title: string; model_name: string }) => [m.title, m.model_name]),
      [
        ['tiny-a1111', 'tiny-a1111'],
        ['tiny-other', 'tiny-other'],
      ],
    );
    for (const m of models) assert.ok(!String(m.filename).includes('/'), 'no server path');
    const samplers = (await ctx.request(user.token, { method: 'GET', url: '/sdapi/v1/samplers' })).json() as { name: string; aliases: string[] }[];
    const names = samplers.map((s) => s.name);
    for (const name of ['Euler a', 'Euler', 'DDIM', 'DPM++ 2M', 'DPM++ 2M Karras', 'PNDM']) assert.ok(names.includes(name), name);
    const options = (await ctx.request(user.token, { method: 'GET', url: '/sdapi/v1/options' })).json();
    assert.equal(options.sd_model_checkpoint, 'tiny-a1111');
    // Every listed sampler works in txt2img.
    for (const name of names) {
      const res = await txt2img(ctx, user.token, { prompt: 'x', steps: 2, width: 64, height: 64, seed: 9, sampler_name: name, send_images: false });
      assert.equal(res.statusCode, 200, `${name}: ${res.body}`);
    }
  });

  it("POST /options {sd_model_checkpoint} switches the account's model (not another account's); override_settings still wins", async () => {
    const own = await ctx.user('a1111-options@example.com', 100);
    const other = await ctx.user('a1111-options-other@example.com', 100);
    const options = (token: string) => ctx.request(token, { method: 'GET', url: '/sdapi/v1/options' }).then((r) => r.json());
    const modelOf = async (token: string, extra: Record<string, unknown> = {}) => {
      const res = await txt2img(ctx, token, { prompt: 'x', steps: 1, width: 64, height: 64, send_images: false, ...extra });
      assert.equal(res.statusCode, 200, res.body);
      return JSON.parse(res.json().info).sd_model_name as string;
    };
    assert.equal(await modelOf(own.token), 'tiny-a1111', 'the default: the first engine offering 64x64');

    // A1111 titles files "name.safetensors [hash]"; other settings in the same body are ignored. A1111 answers null.
    const set = await ctx.request(own.token, { method: 'POST', url: '/sdapi/v1/options', payload: { sd_model_checkpoint: 'tiny-other.safetensors [0123abcd]', CLIP_stop_at_last_layers: 2 } });
    assert.equal(set.statusCode, 200, set.body);
    assert.equal(set.body, 'null');
    assert.equal((await options(own.token)).sd_model_checkpoint, 'tiny-other');
    assert.equal(await modelOf(own.token), 'tiny-other');
    // img2img follows the same choice.
    const init = (await sharp({ create: { width: 64, height: 64, channels: 3, background: '#336699' } }).png().toBuffer()).toString('base64');
    const img2img = await ctx.request(own.token, { method: 'POST', url: '/sdapi/v1/img2img', payload: { prompt: 'x', init_images: [init], steps: 2, width: 64, height: 64, send_images: false } });
    assert.equal(img2img.statusCode, 200, img2img.body);
    assert.equal(JSON.parse(img2img.json().info).sd_model_name, 'tiny-other');
    assert.equal(await modelOf(own.token, { override_settings: { sd_model_checkpoint: 'tiny-a1111' } }), 'tiny-a1111', 'a request override wins');
    assert.equal(await modelOf(own.token), 'tiny-other', 'and does not change the setting');
    // Tenant isolation: the other account still gets the default.
    assert.equal((await options(other.token)).sd_model_checkpoint, 'tiny-a1111');
    assert.equal(await modelOf(other.token), 'tiny-a1111');

    // An alias is kept as given; an unknown checkpoint is a 422 naming the field, and changes nothing.
    assert.equal((await ctx.request(own.token, { method: 'POST', url: '/sdapi/v1/options', payload: { sd_model_checkpoint: 'tiny-alias' } })).statusCode, 200);
    assert.equal((await options(own.token)).sd_model_checkpoint, 'tiny-alias');
    for (const bad of ['no-such-model', 42, '']) {
      const res = await ctx.request(own.token, { method: 'POST', url: '/sdapi/v1/options', payload: { sd_model_checkpoint: bad } });
      assert.equal(res.statusCode, 422, res.body);
      assert.deepEqual(res.json().detail.map((d: { loc: unknown[] }) => d.loc), [['body', 'sd_model_checkpoint']]);
    }
    assert.equal((await options(own.token)).sd_model_checkpoint, 'tiny-alias');
    assert.equal(await modelOf(own.token), 'tiny-other');
    // Without a token: 401, nothing stored.
    const anonymous = await ctx.request(null, { method: 'POST', url: '/sdapi/v1/options', payload: { sd_model_checkpoint: 'tiny-other' } });
    assert.equal(anonymous.statusCode, 401);
  });

  it('schedulers, prompt-styles, sd-vae, embeddings, refresh-checkpoints and png-info answer as A1111 does, and what they list works', async () => {
    const get = (url: string) => ctx.request(user.token, { method: 'GET', url });
    const schedulers = (await get('/sdapi/v1/schedulers')).json() as { name: string; label: string }[];
    assert.deepEqual(schedulers.map((s) => s.label), ['Automatic', 'Uniform', 'Karras']);
    for (const { label } of schedulers) {
      const res = await txt2img(ctx, user.token, { prompt: 'x', steps: 2, width: 64, height: 64, sampler_name: 'DPM++ 2M', scheduler: label, send_images: false });
      assert.equal(res.statusCode, 200, `${label}: ${res.body}`);
    }
    const styles = (await get('/sdapi/v1/prompt-styles')).json() as { name: string; prompt: string; negative_prompt: string }[];
    const anime = styles.find((s) => s.name === 'anime');
    assert.ok(anime && anime.prompt.includes('{prompt}') && anime.negative_prompt.length > 0, JSON.stringify(styles[0]));
    const styled = await txt2img(ctx, user.token, { prompt: 'a fox', steps: 1, width: 64, height: 64, styles: ['anime'], send_images: false });
    assert.deepEqual(JSON.parse(styled.json().info).extra_generation_params, { Style: 'anime' });
    assert.deepEqual((await get('/sdapi/v1/sd-vae')).json(), []);
    assert.deepEqual((await get('/sdapi/v1/embeddings')).json(), { loaded: {}, skipped: {} });
    const refresh = await ctx.request(user.token, { method: 'POST', url: '/sdapi/v1/refresh-checkpoints' });
    assert.equal(refresh.statusCode, 200);
    assert.equal(refresh.body, 'null');

    // png-info reads back the parameters of an image txt2img made (base64 and data: URL alike).
    const made = await txt2img(ctx, user.token, { prompt: 'a red kite', negative_prompt: 'rain', steps: 2, width: 64, height: 64, seed: 77 });
    const image = made.json().images[0] as string;
    assert.equal(made.statusCode, 200, made.body);
    for (const sent of [image, `data:image/png;base64,${image}`]) {
      const read = await ctx.request(user.token, { method: 'POST', url: '/sdapi/v1/png-info', payload: { image: sent } });
      assert.equal(read.statusCode, 200, read.body);
      const body = read.json();
      assert.match(body.info, /^a red kite\nNegative prompt: rain\nSteps: 2, Sampler: \w+, CFG scale: 7, Seed: 77, Size: 64x64, Model: /);
      assert.equal(body.parameters.Prompt, 'a red kite');
      assert.equal(body.parameters['Negative prompt'], 'rain');
      assert.equal(body.parameters.Seed, '77');
      assert.equal(body.parameters.Steps, '2');
      assert.deepEqual([body.parameters['Size-1'], body.parameters['Size-2']], ['64', '64']);
      assert.deepEqual(body.items, {});
    }
    const notPng = await ctx.request(user.token, { method: 'POST', url: '/sdapi/v1/png-info', payload: { image: Buffer.from('not a picture').toString('base64') } });
    assert.deepEqual(notPng.json(), { info: '', items: {}, parameters: {} });
    for (const bad of ['<script>', `A${' '.repeat(2_000_000)}!`]) {
      const garbage = await ctx.request(user.token, { method: 'POST', url: '/sdapi/v1/png-info', payload: { image: bad } });
      assert.equal(garbage.statusCode, 422);
      assert.deepEqual(garbage.json().detail[0].loc, ['body', 'image']);
    }
    for (const [method, url] of [['GET', '/sdapi/v1/schedulers'], ['GET', '/sdapi/v1/prompt-styles'], ['POST', '/sdapi/v1/png-info']] as const) {
      assert.equal((await ctx.request(null, { method, url, payload: method === 'POST' ? { image: image } : undefined })).statusCode, 401, url);
    }
  });

  it('bad fields are a 422 with FastAPI-style detail [{loc, msg, type}] naming A1111 fields; unknown routes 404 {"detail": "Not Found"}', async () => {
    const res = await txt2img(ctx, user.token, { prompt: 'x', width: 100, height: 64, override_settings: { sd_model_checkpoint: 'tiny-other' } });
    assert.equal(res.statusCode, 422);
    const detail = res.json().detail as { loc: (string | number)[]; msg: string; type: string }[];
    assert.deepEqual(detail[0].loc, ['body', 'width']);
    assert.match(detail[0].msg, /64x64/);
    const many = await txt2img(ctx, user.token, { prompt: 'x', steps: 'many', batch_size: 0 });
    assert.equal(many.statusCode, 422);
    const locs = (many.json().detail as { loc: string[] }[]).map((d) => d.loc.join('.')).sort();
    assert.deepEqual(locs, ['body.batch_size', 'body.steps']);
    const sampler = await txt2img(ctx, user.token, { prompt: 'x', width: 64, height: 64, sampler_name: 'Heun' });
    assert.deepEqual(sampler.json().detail[0].loc, ['body', 'sampler_name']);
    const checkpoint = await txt2img(ctx, user.token, { prompt: 'x', override_settings: { sd_model_checkpoint: 'v1-5-pruned.safetensors [6ce0161689]' } });
    assert.deepEqual(checkpoint.json().detail[0].loc, ['body', 'override_settings', 'sd_model_checkpoint']);
    const batch = await txt2img(ctx, user.token, { prompt: 'x', batch_size: 4, n_iter: 3 });
    assert.deepEqual(batch.json().detail[0].loc, ['body', 'batch_size']);
    const unknown = await ctx.request(user.token, { method: 'POST', url: '/sdapi/v1/extra-single-image', payload: {} });
    assert.equal(unknown.statusCode, 404);
    assert.deepEqual(unknown.json(), { detail: 'Not Found' });
  });

  it('too few credits answers 402 {"detail": …}', async () => {
    const poor = await ctx.user('poor-a1111@example.com', 0);
    const res = await txt2img(ctx, poor.token, { prompt: 'x', steps: 2, width: 64, height: 64 });
    assert.equal(res.statusCode, 402);
    assert.match(res.json().detail, /credits/i);
  });
});

/** Reports step 2 of 4 of the first image, then waits (the job stays running) until released or aborted. */
class ProgressThenHold implements ImageGenerator {
  held = 0;
  #release!: () => void;
  readonly #released = new Promise<void>((resolve) => (this.#release = resolve));
  constructor(private readonly inner: ImageGenerator) {}
  preload(target: ModelTarget) {
    return this.inner.preload(target);
  }
  deviceFor(target: ModelTarget) {
    return this.inner.deviceFor(target);
  }
  async generate(target: ModelTarget, request: GenerateRequest, control: GenerateControl = {}): Promise<GeneratedImage[]> {
    this.held += 1;
    control.onProgress?.({ image: 0, images: 1, step: 2, steps: 4 });
    control.preview?.onPreview({ image: 0, step: 2, steps: 4, width: 8, height: 8, rgb: new Uint8Array(8 * 8 * 3).fill(120) });
    await new Promise<void>((resolve, reject) => {
      const signal = control.signal;
      if (signal?.aborted) return reject(signal.reason);
      signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
      void this.#released.then(resolve);
    });
    return this.inner.generate(target, request, control);
  }
  release() {
    this.#release();
  }
  close() {
    return this.inner.close();
  }
}

describe('AUTOMATIC1111 progress and interrupt: the caller\'s own request only', () => {
  let ctx: ApiContext;
  let generator: ProgressThenHold;
  before(async () => {
    ctx = await createApiContext({
      worker: { heartbeatMs: 50 },
      overrides: { engines: [A1111_ENGINE], wrapGenerator: (inner) => (generator = new ProgressThenHold(inner)) },
    });
  });
  after(async () => {
    generator.release();
    await ctx.close();
  });

  it('progress shows the running request of this account (not another\'s); interrupt cancels it, refunds it, and txt2img answers without images', async () => {
    const owner = await ctx.user('owner@example.com', 100);
    const other = await ctx.user('other@example.com', 100);
    const idle = (await ctx.request(owner.token, { method: 'GET', url: '/sdapi/v1/progress' })).json();
    assert.equal(idle.progress, 0);
    assert.equal(idle.state.job_count, 0);
    assert.equal(idle.current_image, null);

    const pending = txt2img(ctx, owner.token, { prompt: 'held', steps: 4, width: 64, height: 64, seed: 1 });
    let progress: Record<string, any>;
    for (;;) {
      progress = (await ctx.request(owner.token, { method: 'GET', url: '/sdapi/v1/progress' })).json();
      if (progress.state.sampling_step === 2 && progress.current_image) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(progress.progress, 0.5);
    assert.equal(progress.state.sampling_steps, 4);
    assert.equal(progress.state.job_count, 1);
    assert.ok(progress.eta_relative >= 0);
    assert.match(progress.state.job, /^task\(/);
    assert.equal((await sharp(Buffer.from(progress.current_image, 'base64')).metadata()).format, 'jpeg', 'the live preview');
    const skipped = (await ctx.request(owner.token, { method: 'GET', url: '/sdapi/v1/progress?skip_current_image=true' })).json();
    assert.equal(skipped.current_image, null);

    const theirs = (await ctx.request(other.token, { method: 'GET', url: '/sdapi/v1/progress' })).json();
    assert.equal(theirs.progress, 0, "another account sees nothing of it");
    assert.equal(theirs.state.job_count, 0);
    await ctx.request(other.token, { method: 'POST', url: '/sdapi/v1/interrupt' });
    assert.equal((await ctx.request(owner.token, { method: 'GET', url: '/sdapi/v1/progress' })).json().state.job_count, 1, "another account's interrupt does not touch it");

    const interrupted = await ctx.request(owner.token, { method: 'POST', url: '/sdapi/v1/interrupt' });
    assert.equal(interrupted.statusCode, 200);
    const res = await pending;
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json().images, []);
    assert.equal(JSON.parse(res.json().info).interrupted, true);
    assert.equal((await ctx.request(owner.token, { method: 'GET', url: '/api/v1/account' })).json().data.credits, 100, 'refunded');
  });
});

describe('the same seed and settings give the same pixels through A1111, OpenAI and the thread API', () => {
  let ctx: ApiContext;
  before(async () => {
    ctx = await createApiContext({ worker: true });
  });
  after(() => ctx.close());

  it('byte-identical pixels', async () => {
    const user = await ctx.user('pixels@example.com', 1000);
    const settings = { prompt: 'a red circle on a blue background', negative: 'green', seed: 4242, steps: 10, cfg: 6.5 };
    const engine = 'sdapi-demo-shapes';

    const a1111 = await txt2img(ctx, user.token, {
      prompt: settings.prompt,
      negative_prompt: settings.negative,
      seed: settings.seed,
      steps: settings.steps,
      cfg_scale: settings.cfg,
      sampler_name: 'Euler a',
      width: 64,
      height: 64,
      override_settings: { sd_model_checkpoint: engine },
    });
    assert.equal(a1111.statusCode, 200, a1111.body);
    const fromA1111 = Buffer.from(a1111.json().images[0], 'base64');

    const openai = await ctx.request(user.token, {
      method: 'POST',
      url: '/v1/images/generations',
      payload: { prompt: settings.prompt, negative_prompt: settings.negative, seed: settings.seed, steps: settings.steps, cfg_scale: settings.cfg, sampler: 'euler_a', model: engine, size: '64x64', response_format: 'b64_json' },
    });
    assert.equal(openai.statusCode, 200, openai.body);
    const fromOpenAi = Buffer.from(openai.json().data[0].b64_json, 'base64');

    const thread = (await ctx.request(user.token, { method: 'POST', url: '/api/v1/threads', payload: { ai_version_code: 'stablediffusion_text2img' } })).json().data.guid;
    const posted = await ctx.request(user.token, {
      method: 'POST',
      url: `/api/v1/threads/${thread}/entry`,
      payload: {
        engine,
        resolution: '64x64',
        prompts: [
          { text: settings.prompt, weight: 1 },
          { text: settings.negative, weight: -1 },
        ],
        images: 1,
        steps: settings.steps,
        seed: settings.seed,
        cfg_scale: settings.cfg,
        sampler: 'euler_a',
      },
    });
    assert.equal(posted.statusCode, 201, posted.body);
    const outcome = await ctx.services.protocols.waitFor(user.id, posted.json().data.guid, { timeoutMs: 120_000 });
    assert.ok(outcome.status === 'done');
    const fromThreads = await ctx.services.protocols.imageBytes(outcome.images[0]);

    const raw = async (png: Buffer) => sharp(png).raw().toBuffer();
    const reference = await raw(fromThreads);
    assert.ok(reference.equals(await raw(fromA1111)), 'A1111 = threads');
    assert.ok(reference.equals(await raw(fromOpenAi)), 'OpenAI = threads');
  });
});

