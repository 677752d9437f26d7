/**
 * Image-to-image and inpainting on the compatibility surfaces (issue #12 item 5): OpenAI's POST /v1/images/edits
 * through the official `openai` client's images.edit(), and AUTOMATIC1111's POST /sdapi/v1/img2img. Both map onto
 * the thread API's image requests; each result is checked in pixels (the tiny models' block VAE keeps pictures) and
 * against the same request sent through POST /threads/{guid}/entry, pixel for pixel. Bad images answer each
 * surface's 4xx and charge nothing; another account's image is not found; the rate limit applies.
 */
import assert from 'node:assert/strict';
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import OpenAI, { toFile } from 'openai';
import sharp from 'sharp';
import type { EngineEntry } from '../../src/services/generation/engine-registry.ts';
import { memoryRequestLimiter } from '../../src/services/limits/request-limiter.ts';
import { copyTiny, tiny } from '../engine/pipeline-helpers.ts';
import { createApiContext, waitForResponse, type ApiContext } from '../helpers/api-context.ts';
import { dataUrl, H, headerOnlyPng, inRectangle, meanDiff, pictureRgb, png, rgbaWithHole, W } from '../helpers/test-pictures.ts';

const outside = (x: number, y: number): boolean => !inRectangle(x, y);

/** 255 inside the rectangle (white = repaint). */
function whiteMask(): Buffer {
  const data = Buffer.alloc(W * H);
  for (let p = 0; p < W * H; p++) data[p] = inRectangle(p % W, Math.floor(p / W)) ? 255 : 0;
  return data;
}

/** An OpenAI mask: black everywhere, transparent in the rectangle. */
function openAiMask(): Buffer {
  const rgba = Buffer.alloc(W * H * 4);
  for (let p = 0; p < W * H; p++) rgba[p * 4 + 3] = inRectangle(p % W, Math.floor(p / W)) ? 0 : 255;
  return rgba;
}

async function rgbOf(bytes: Buffer): Promise<Buffer> {
  const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  assert.equal(`${info.width}x${info.height}`, `${W}x${H}`);
  return data;
}

async function listen(ctx: ApiContext): Promise<string> {
  await ctx.app.listen({ host: '127.0.0.1', port: 0 });
  const address = ctx.app.server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  return `http://127.0.0.1:${address.port}`;
}

const client = (base: string, token: string) => new OpenAI({ apiKey: token, baseURL: `${base}/v1`, maxRetries: 0 });
const pngFile = (bytes: Buffer, name = 'image.png') => toFile(bytes, name, { type: 'image/png' });
/** images.edit() with sdapi's extension fields (the SDK sends every field of the body as a form field). */
type EditParams = OpenAI.ImageEditParamsNonStreaming & Record<string, unknown>;
const basic = (token: string) => `Basic ${Buffer.from(`user:${token}`).toString('base64')}`;

describe('image-to-image and inpainting on /v1/images/edits and /sdapi/v1/img2img (real engine, tiny models)', () => {
  let ctx: ApiContext;
  let base: string;
  let alice: { id: string; token: string };
  let bob: { id: string; token: string };
  let blockSd1: { dir: string; cleanup: () => void };
  let initPng: Buffer;
  let init: Buffer;

  before(async () => {
    // Tiny SD1 with sd1-inpaint's block autoencoder: it keeps pictures, so kept pixels can be compared.
    blockSd1 = copyTiny('sd1');
    for (const part of ['vae_encoder', 'vae_decoder']) {
      rmSync(join(blockSd1.dir, part), { recursive: true });
      cpSync(join(tiny('sd1-inpaint'), part), join(blockSd1.dir, part), { recursive: true });
    }
    const engines: EngineEntry[] = [
      { id: 'img', model: blockSd1.dir, steps: { min: 1, max: 50, default: 20 }, resolutions: ['64x48', '64x64'] },
      { id: 'inpaint', model: tiny('sd1-inpaint'), steps: { min: 1, max: 50, default: 4 }, resolutions: ['64x48', '64x64'] },
    ];
    ctx = await createApiContext({ worker: true, overrides: { engines } });
    base = await listen(ctx);
    alice = await ctx.user('alice-edits@example.com', 500);
    bob = await ctx.user('bob-edits@example.com', 100);
    initPng = await png(pictureRgb(), 3);
    init = await rgbOf(initPng);
  });
  after(async () => {
    await ctx.close();
    blockSd1.cleanup();
  });

  const balance = async (token: string): Promise<number> => (await ctx.request(token, { method: 'GET', url: '/api/v1/account' })).json().data.credits;

  /** The same request through POST /threads/{guid}/entry: its response entry and first image's pixels. */
  async function viaThread(code: string, body: object, token = alice.token) {
    const t = await ctx.request(token, { method: 'POST', url: '/api/v1/threads', payload: { ai_version_code: code } });
    assert.equal(t.statusCode, 201, t.body);
    const guid = t.json().data.guid as string;
    const created = await ctx.request(token, { method: 'POST', url: `/api/v1/threads/${guid}/entry`, payload: body });
    assert.equal(created.statusCode, 201, created.body);
    const response = (await waitForResponse(ctx, token, guid)).find((e) => e.type === 'response');
    assert.ok(response);
    const file = await ctx.request(null, { method: 'GET', url: new URL(response.content[0].url).pathname });
    return { response, pixels: await rgbOf(file.rawPayload) };
  }

  async function threadNamed(token: string, title: string): Promise<{ guid: string; ai_version_code: string }> {
    const threads = (await ctx.request(token, { method: 'GET', url: '/api/v1/threads' })).json().data as { guid: string; title: string; ai_version_code: string }[];
    const thread = threads.find((t) => t.title === title);
    assert.ok(thread, `a thread "${title}" in ${JSON.stringify(threads.map((t) => t.title))}`);
    return thread;
  }

  it("images.edit with a mask: the mask's transparent pixels are repainted, the rest is the image; same pixels as the thread API's inpainting", async () => {
    const before = await balance(alice.token);
    const result = await client(base, alice.token).images.edit({
      image: await pngFile(initPng),
      mask: await pngFile(await png(openAiMask(), 4), 'mask.png'),
      prompt: 'a lighthouse',
      model: 'inpaint',
      response_format: 'b64_json',
      steps: 4,
      seed: 9,
      sampler: 'euler',
    } as EditParams);
    assert.equal(result.data?.length, 1);
    const pixels = await rgbOf(Buffer.from(result.data?.[0].b64_json ?? '', 'base64'));
    assert.ok(meanDiff(pixels, init, outside) < 12, 'outside the mask: the image (within the block VAE round trip)');
    assert.ok(meanDiff(pixels, init, inRectangle) > 20, 'inside the mask: repainted');

    const thread = await threadNamed(alice.token, 'OpenAI API (inpainting)');
    assert.equal(thread.ai_version_code, 'stablediffusion_inpaint');
    const entries = (await ctx.request(alice.token, { method: 'GET', url: `/api/v1/threads/${thread.guid}/entries` })).json().data as Record<string, any>[];
    const request = entries.find((e) => e.type === 'request');
    assert.equal(request?.content.mask_source, 'MASK_IMAGE_BLACK');
    assert.equal(request?.content.image_strength, 0, 'the masked area is repainted fully');
    assert.equal(request?.content.resolution, '64x48', "the engine resolution closest to the image's");
    const charged = before - (await balance(alice.token));
    assert.equal(charged, entries.find((e) => e.type === 'response')?.credits);

    const same = await viaThread('stablediffusion_inpaint', {
      prompts: [{ text: 'a lighthouse', weight: 1 }],
      engine: 'inpaint',
      steps: 4,
      seed: 9,
      sampler: 'euler',
      image_strength: 0,
      init_image: dataUrl(initPng),
      mask_image: dataUrl(await png(whiteMask(), 1)),
    });
    assert.deepEqual(pixels, same.pixels, 'the same request as a thread entry with the white mask');
    assert.equal(same.response.credits, charged, 'priced the same');
  });

  it("images.edit without a mask: the image's transparent pixels are repainted (image[] takes the first file)", async () => {
    const result = await client(base, alice.token).images.edit({
      image: [await pngFile(await png(rgbaWithHole(), 4))],
      prompt: 'a lighthouse',
      model: 'inpaint',
      response_format: 'b64_json',
      size: '64x48',
      steps: 4,
      seed: 9,
      sampler: 'euler',
    } as EditParams);
    const pixels = await rgbOf(Buffer.from(result.data?.[0].b64_json ?? '', 'base64'));
    assert.ok(meanDiff(pixels, init, outside) < 12);
    assert.ok(meanDiff(pixels, init, inRectangle) > 20);
  });

  it('images.edit of an opaque image without a mask is image to image: image_strength 0.95 keeps it, charged by the steps run', async () => {
    const result = await client(base, alice.token).images.edit({
      image: await pngFile(initPng),
      prompt: 'a lighthouse',
      model: 'img',
      response_format: 'url',
      steps: 20,
      seed: 5,
      sampler: 'euler',
      image_strength: 0.95,
    } as EditParams);
    const url = result.data?.[0].url ?? '';
    const file = await ctx.request(null, { method: 'GET', url: new URL(url).pathname });
    const pixels = await rgbOf(file.rawPayload);
    assert.ok(meanDiff(pixels, init) < 20, `kept (${meanDiff(pixels, init).toFixed(1)})`);
    const thread = await threadNamed(alice.token, 'OpenAI API (image to image)');
    assert.equal(thread.ai_version_code, 'stablediffusion_img2img');
    const entries = (await ctx.request(alice.token, { method: 'GET', url: `/api/v1/threads/${thread.guid}/entries` })).json().data as Record<string, any>[];
    assert.equal(entries.find((e) => e.type === 'request')?.content.image_strength, 0.95);
    const same = await viaThread('stablediffusion_img2img', { prompts: [{ text: 'a lighthouse', weight: 1 }], engine: 'img', steps: 20, seed: 5, sampler: 'euler', image_strength: 0.95, init_image: dataUrl(initPng) });
    assert.deepEqual(pixels, same.pixels);
    assert.equal(entries.find((e) => e.type === 'response')?.credits, same.response.credits);
  });

  it('a repeat of the same edit (an SDK retry) answers the first one\'s images and is charged once', async () => {
    const body = { prompt: 'a lighthouse', image: [dataUrl(initPng)], model: 'img', steps: 2, seed: 3, response_format: 'url' };
    const before = await balance(alice.token);
    const first = await ctx.request(alice.token, { method: 'POST', url: '/v1/images/edits', payload: body });
    assert.equal(first.statusCode, 200, first.body);
    const charged = before - (await balance(alice.token));
    assert.ok(charged > 0);
    const again = await ctx.request(alice.token, { method: 'POST', url: '/v1/images/edits', payload: body });
    assert.equal(again.json().data[0].url, first.json().data[0].url);
    assert.equal(await balance(alice.token), before - charged, 'charged once');
  });

  it('/sdapi/v1/img2img: denoising_strength 0.05 keeps the image; A1111 response shape; same pixels as the thread API', async () => {
    const res = await ctx.request(null, {
      method: 'POST',
      url: '/sdapi/v1/img2img',
      headers: { authorization: basic(alice.token) },
      payload: { prompt: 'a lighthouse', init_images: [initPng.toString('base64')], denoising_strength: 0.05, steps: 20, seed: 5, sampler_name: 'Euler', width: 64, height: 48, override_settings: { sd_model_checkpoint: 'img' } },
    });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.deepEqual(Object.keys(body).sort(), ['images', 'info', 'parameters']);
    const pixels = await rgbOf(Buffer.from(body.images[0], 'base64'));
    assert.ok(meanDiff(pixels, init) < 20);
    assert.equal(body.parameters.denoising_strength, 0.05);
    assert.equal(body.parameters.init_images, null, 'not echoed unless include_init_images');
    const info = JSON.parse(body.info);
    assert.equal(info.denoising_strength, 0.05);
    assert.equal(info.seed, 5);
    assert.equal(info.width, 64);
    const same = await viaThread('stablediffusion_img2img', { prompts: [{ text: 'a lighthouse', weight: 1 }], engine: 'img', resolution: '64x48', steps: 20, seed: 5, sampler: 'euler', image_strength: 0.95, init_image: dataUrl(initPng) });
    assert.deepEqual(pixels, same.pixels);
    const thread = await threadNamed(alice.token, 'A1111 API (image to image)');
    assert.equal(thread.ai_version_code, 'stablediffusion_img2img');
  });

  it('/sdapi/v1/img2img with a mask: white is repainted; inpainting_mask_invert 1 repaints black (the inverted mask gives the same image)', async () => {
    const common = { prompt: 'a lighthouse', steps: 4, seed: 9, sampler_name: 'Euler', denoising_strength: 1, mask_blur: 0, override_settings: { sd_model_checkpoint: 'inpaint' } };
    const white = await ctx.request(null, { method: 'POST', url: '/sdapi/v1/img2img', headers: { authorization: basic(alice.token) }, payload: { ...common, init_images: [dataUrl(initPng)], mask: dataUrl(await png(whiteMask(), 1)) } });
    assert.equal(white.statusCode, 200, white.body);
    const inverted = Buffer.from(whiteMask().map((v) => 255 - v));
    const black = await ctx.request(null, { method: 'POST', url: '/sdapi/v1/img2img', headers: { authorization: basic(alice.token) }, payload: { ...common, init_images: [initPng.toString('base64')], mask: (await png(inverted, 1)).toString('base64'), inpainting_mask_invert: 1 } });
    assert.equal(black.statusCode, 200, black.body);
    const w = await rgbOf(Buffer.from(white.json().images[0], 'base64'));
    const b = await rgbOf(Buffer.from(black.json().images[0], 'base64'));
    assert.ok(meanDiff(w, init, outside) < 12, 'outside the mask: the image');
    assert.ok(meanDiff(w, init, inRectangle) > 20, 'inside: repainted');
    assert.deepEqual(b, w);
    assert.equal(JSON.parse(white.json().info).is_using_inpainting_conditioning, true);
    const thread = await threadNamed(alice.token, 'A1111 API (inpainting)');
    assert.equal(thread.ai_version_code, 'stablediffusion_inpaint');
    // /progress follows img2img requests too (the latest one, finished: no job).
    const progress = await ctx.request(null, { method: 'GET', url: '/sdapi/v1/progress', headers: { authorization: basic(alice.token) } });
    assert.equal(progress.json().state.job_count, 0);
  });

  it('bad images answer each surface\'s 4xx naming the field, and charge nothing', async () => {
    const before = await balance(bob.token);
    const openai = client(base, bob.token);
    const truncated = initPng.subarray(0, Math.floor(initPng.length / 2));
    const cases: [string, () => Promise<unknown>, string, RegExp][] = [
      ['truncated image', async () => openai.images.edit({ image: await pngFile(truncated), prompt: 'x', model: 'img' }), 'image', /damaged or truncated/],
      ['20000×20000 header', async () => openai.images.edit({ image: await pngFile(headerOnlyPng(20000, 20000)), prompt: 'x', model: 'img' }), 'image', /./],
      ['not an image', async () => openai.images.edit({ image: await toFile(Buffer.from('hello'), 'a.txt', { type: 'text/plain' }), prompt: 'x', model: 'img' }), 'image', /./],
      ['mask without alpha', async () => openai.images.edit({ image: await pngFile(initPng), mask: await pngFile(await png(whiteMask(), 1)), prompt: 'x', model: 'inpaint' }), 'mask', /alpha channel/],
      ['unreadable mask', async () => openai.images.edit({ image: await pngFile(initPng), mask: await pngFile(truncated), prompt: 'x', model: 'inpaint' }), 'mask', /./],
    ];
    for (const [name, call, param, message] of cases) {
      await assert.rejects(call(), (err: unknown) => {
        assert.ok(err instanceof OpenAI.BadRequestError, `${name}: ${String(err)}`);
        assert.equal(err.param, param, name);
        assert.match(err.message, message, name);
        return true;
      });
    }
    // JSON body: bad base64.
    const json = await ctx.request(bob.token, { method: 'POST', url: '/v1/images/edits', payload: { prompt: 'x', image: ['not base64 !!'] } });
    assert.equal(json.statusCode, 400, json.body);
    assert.equal(json.json().error.param, 'image');

    const a1111 = (payload: object) => ctx.request(null, { method: 'POST', url: '/sdapi/v1/img2img', headers: { authorization: basic(bob.token) }, payload });
    const bad64 = await a1111({ prompt: 'x', init_images: ['%%%not-base64%%%'] });
    assert.equal(bad64.statusCode, 422, bad64.body);
    // Unreadable, the image cannot choose the size: width is named too.
    assert.deepEqual(bad64.json().detail.map((d: { loc: unknown[] }) => d.loc), [['body', 'init_images'], ['body', 'width']]);
    assert.match(bad64.json().detail[0].msg, /^The init_images is not usable: The image must be a file, a data: URL, base64/);
    const huge = await a1111({ prompt: 'x', init_images: [headerOnlyPng(20000, 20000).toString('base64')] });
    assert.equal(huge.statusCode, 422, huge.body);
    assert.match(huge.json().detail[0].msg, /init_images/);
    const badMask = await a1111({ prompt: 'x', init_images: [initPng.toString('base64')], mask: truncated.toString('base64'), override_settings: { sd_model_checkpoint: 'inpaint' } });
    assert.equal(badMask.statusCode, 422, badMask.body);
    assert.deepEqual(badMask.json().detail.map((d: { loc: unknown[] }) => d.loc), [['body', 'mask']]);
    const noStep = await a1111({ prompt: 'x', init_images: [initPng.toString('base64')], denoising_strength: 0.01, steps: 20, override_settings: { sd_model_checkpoint: 'img' } });
    assert.equal(noStep.statusCode, 422, noStep.body);
    assert.deepEqual(noStep.json().detail, [{ loc: ['body', 'denoising_strength'], msg: 'The denoising_strength leaves no denoising step to run (int(steps × denoising_strength) is 0): raise the denoising_strength or the steps.', type: 'value_error' }]);
    const none = await a1111({ prompt: 'x', init_images: [] });
    assert.equal(none.statusCode, 422);
    // An image text longer than a 10 MB image's base64: 422; a body over SDAPI_IMAGE_BODY_LIMIT (30 MiB): 413.
    const tooLong = await a1111({ prompt: 'x', init_images: ['A'.repeat(20 * 1024 * 1024)] });
    assert.equal(tooLong.statusCode, 422);
    assert.deepEqual(tooLong.json().detail[0].loc, ['body', 'init_images', 0]);
    const tooBig = await a1111({ prompt: 'x', init_images: ['A'.repeat(31 * 1024 * 1024)] });
    assert.equal(tooBig.statusCode, 413);
    const tooBigEdit = await ctx.request(bob.token, { method: 'POST', url: '/v1/images/edits', payload: { prompt: 'x', image: ['A'.repeat(31 * 1024 * 1024)] } });
    assert.equal(tooBigEdit.statusCode, 413);
    assert.equal(tooBigEdit.json().error.code, 'payload_too_large');
    assert.equal(await balance(bob.token), before, 'nothing charged');
  });

  it("another account's image (by url) is not found on either surface; its threads stay its own", async () => {
    const made = await client(base, alice.token).images.generate({ prompt: 'a red circle', model: 'img', size: '64x48', response_format: 'url', steps: 2 } as OpenAI.ImageGenerateParamsNonStreaming);
    const url = made.data?.[0].url ?? '';
    // Alice can carry on from it (a url reference in a JSON body)…
    const mine = await ctx.request(alice.token, { method: 'POST', url: '/sdapi/v1/img2img', payload: { prompt: 'x', init_images: [url], steps: 2, override_settings: { sd_model_checkpoint: 'img' } } });
    assert.equal(mine.statusCode, 200, mine.body);
    // …Bob cannot.
    const theirs = await ctx.request(bob.token, { method: 'POST', url: '/sdapi/v1/img2img', payload: { prompt: 'x', init_images: [url], steps: 2 } });
    assert.equal(theirs.statusCode, 422);
    assert.match(theirs.json().detail[0].msg, /not found in your account/);
    const openai = await ctx.request(bob.token, { method: 'POST', url: '/v1/images/edits', payload: { prompt: 'x', image: [url], model: 'img' } });
    assert.equal(openai.statusCode, 400);
    assert.equal(openai.json().error.param, 'image');
    assert.match(openai.json().error.message, /not found in your account/);
    const guids = async (token: string) => ((await ctx.request(token, { method: 'GET', url: '/api/v1/threads' })).json().data as { guid: string }[]).map((t) => t.guid);
    const alices = new Set(await guids(alice.token));
    assert.ok(!(await guids(bob.token)).some((g) => alices.has(g)), "Bob's protocol threads are his own");
    const aliceThread = await threadNamed(alice.token, 'A1111 API (image to image)');
    const peek = await ctx.request(bob.token, { method: 'GET', url: `/api/v1/threads/${aliceThread.guid}/entries` });
    assert.equal(peek.statusCode, 404);
  });
});

describe('image edits and the rate limit', () => {
  it('/v1/images/edits and /sdapi/v1/img2img count against the token\'s quota and answer 429 in their shapes', async () => {
    const ctx = await createApiContext({ overrides: { requestLimiter: memoryRequestLimiter({ name: 'default', quota: 1, windowSeconds: 60 }) } });
    try {
      const base = await listen(ctx);
      const user = await ctx.user('limited-edits@example.com', 10);
      const first = await ctx.request(user.token, { method: 'POST', url: '/sdapi/v1/img2img', payload: { prompt: 'x', init_images: [] } });
      assert.equal(first.statusCode, 422);
      const second = await ctx.request(user.token, { method: 'POST', url: '/sdapi/v1/img2img', payload: { prompt: 'x', init_images: [] } });
      assert.equal(second.statusCode, 429);
      assert.deepEqual(second.json(), { detail: 'Too Many Requests' });
      await assert.rejects(client(base, user.token).images.edit({ image: await pngFile(await png(pictureRgb(), 3)), prompt: 'x' }), (err: unknown) => {
        assert.ok(err instanceof OpenAI.RateLimitError, String(err));
        assert.equal(err.code, 'rate_limit_exceeded');
        return true;
      });
    } finally {
      await ctx.close();
    }
  });
});

describe('A1111 progress and interrupt follow img2img requests', () => {
  it('a queued img2img is the job /progress reports; /interrupt cancels it, refunds it, and img2img answers without images', async () => {
    // No worker: the request stays queued until interrupted.
    const ctx = await createApiContext({ overrides: { engines: [{ id: 'img', model: tiny('sd1'), steps: { min: 1, max: 50, default: 4 }, resolutions: ['64x48'] }] } });
    try {
      const user = await ctx.user('interrupt-img2img@example.com', 50);
      const before = (await ctx.request(user.token, { method: 'GET', url: '/api/v1/account' })).json().data.credits;
      const pending = ctx.request(user.token, { method: 'POST', url: '/sdapi/v1/img2img', payload: { prompt: 'held', init_images: [(await png(pictureRgb(), 3)).toString('base64')], steps: 4 } });
      let progress: Record<string, any>;
      for (;;) {
        progress = (await ctx.request(user.token, { method: 'GET', url: '/sdapi/v1/progress' })).json();
        if (progress.state.job_count === 1) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.match(progress.state.job, /^task\([0-9a-f-]{36}\)$/);
      const interrupted = await ctx.request(user.token, { method: 'POST', url: '/sdapi/v1/interrupt' });
      assert.equal(interrupted.statusCode, 200);
      const res = await pending;
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json().images, []);
      assert.equal(JSON.parse(res.json().info).interrupted, true);
      assert.equal((await ctx.request(user.token, { method: 'GET', url: '/api/v1/account' })).json().data.credits, before, 'refunded');
    } finally {
      await ctx.close();
    }
  });
});
