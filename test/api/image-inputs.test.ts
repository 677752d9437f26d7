/**
 * Image-to-image and inpainting through the thread/entry API (issue #12): every image field and option generates
 * through the real engine (tiny models whose block VAE keeps pictures, so "kept" can be read in pixels), references
 * are looked up among the caller's own images, bad images are a 422 that charges nothing.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import type { EngineEntry } from '../../src/services/generation/engine-registry.ts';
import { readTextChunks } from '../../src/services/generation/png-text.ts';
import { copyTiny, tiny } from '../engine/pipeline-helpers.ts';
import { createApiContext, multipartBody, waitForResponse, type ApiContext } from '../helpers/api-context.ts';
import { dataUrl, H, headerOnlyPng, inRectangle, meanDiff, pictureRgb, png, rgbaWithHole, W } from '../helpers/test-pictures.ts';

/** 255 inside the rectangle (white = repaint), or its inverse. */
function maskRaw(inverted = false): Buffer {
  const data = Buffer.alloc(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) data[y * W + x] = inRectangle(x, y) !== inverted ? 255 : 0;
  return data;
}

async function rawOf(bytes: Buffer): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

describe('image-to-image and inpainting through the API (real engine, tiny models)', () => {
  let ctx: ApiContext;
  let user: { id: string; token: string };
  let other: { id: string; token: string };
  let blockSd1: { dir: string; cleanup: () => void };
  let noEncoder: { dir: string; cleanup: () => void };
  let initPng: Buffer;

  before(async () => {
    // Tiny SD1 with sd1-inpaint's block autoencoder: it keeps pictures (up to 8×8 box averages), so kept pixels can be compared.
    blockSd1 = copyTiny('sd1');
    for (const part of ['vae_encoder', 'vae_decoder']) {
      rmSync(join(blockSd1.dir, part), { recursive: true });
      cpSync(join(tiny('sd1-inpaint'), part), join(blockSd1.dir, part), { recursive: true });
    }
    noEncoder = copyTiny('sd1');
    rmSync(join(noEncoder.dir, 'vae_encoder'), { recursive: true });
    const engines: EngineEntry[] = [
      { id: 'img', model: blockSd1.dir, steps: { min: 1, max: 50, default: 20 }, resolutions: ['64x48', '64x64', '1024x1024'], upscale: true },
      { id: 'inpaint', model: tiny('sd1-inpaint'), steps: { min: 1, max: 50, default: 4 }, resolutions: ['64x48', '64x64'] },
      { id: 'img-native', model: blockSd1.dir, steps: { min: 1, max: 50, default: 4 }, resolutions: ['64x48'], upscale: false },
      { id: 'text-only', model: noEncoder.dir, steps: { min: 1, max: 50, default: 2 }, resolutions: ['64x64'] },
    ];
    ctx = await createApiContext({ worker: true, overrides: { engines } });
    user = await ctx.user('painter@example.com', 200);
    other = await ctx.user('other@example.com', 50);
    initPng = await png(pictureRgb(), 3);
  });
  after(async () => {
    await ctx.close();
    blockSd1.cleanup();
    noEncoder.cleanup();
  });

  async function thread(code: string, token = user.token): Promise<string> {
    const res = await ctx.request(token, { method: 'POST', url: '/api/v1/threads', payload: { ai_version_code: code } });
    assert.equal(res.statusCode, 201, res.body);
    return res.json().data.guid;
  }
  const balance = async (token = user.token): Promise<number> => (await ctx.request(token, { method: 'GET', url: '/api/v1/account' })).json().data.credits;
  const post = (threadGuid: string, payload: object, token = user.token) => ctx.request(token, { method: 'POST', url: `/api/v1/threads/${threadGuid}/entry`, payload });
  const prompt = { prompts: [{ text: 'a lighthouse', weight: 1 }] };

  /** Posts, waits and returns the response entry and its first image's pixels. */
  async function generate(code: string, body: object, token = user.token) {
    const t = await thread(code, token);
    const created = await post(t, body, token);
    assert.equal(created.statusCode, 201, created.body);
    const entries = await waitForResponse(ctx, token, t);
    const response = entries.find((e) => e.type === 'response');
    assert.ok(response);
    assert.equal(response.error, null, response.error);
    const file = await ctx.request(null, { method: 'GET', url: new URL(response.content[0].url).pathname });
    assert.equal(file.statusCode, 200);
    return { thread: t, request: created.json().data, response, png: file.rawPayload, pixels: await rawOf(file.rawPayload) };
  }

  it('image_strength 0.95 (one of 20 steps left) gives back nearly the init image; 0 repaints it; the PNG says the strength', async () => {
    const init = await rawOf(initPng);
    const near = await generate('stablediffusion_img2img', { ...prompt, engine: 'img', resolution: '64x48', steps: 20, sampler: 'euler', seed: 5, init_image: dataUrl(initPng), image_strength: 0.95 });
    const far = await generate('stablediffusion_img2img', { ...prompt, engine: 'img', resolution: '64x48', steps: 20, sampler: 'euler', seed: 5, init_image: dataUrl(initPng), image_strength: 0 });
    assert.equal(near.response.content[0].dimensions, '64x48');
    const nearDiff = meanDiff(near.pixels.data, init.data);
    const farDiff = meanDiff(far.pixels.data, init.data);
    assert.ok(nearDiff < 20, `image_strength 0.95 keeps the picture (${nearDiff.toFixed(1)} levels)`);
    assert.ok(farDiff > nearDiff + 20, `image_strength 0 repaints (${farDiff.toFixed(1)} vs ${nearDiff.toFixed(1)})`);
    assert.match(readTextChunks(near.png).parameters, /Denoising strength: 0\.05/);
    // The request entry shows the service's copy of the image, with the defaults it filled.
    const content = near.request.content;
    assert.match(content.init_image, /^http:\/\/sdapi\.test\/storage\/inputs\/[0-9a-f-]{36}\.png$/);
    assert.equal(content.image_strength, 0.95);
    assert.equal(content.init_image_mode, 'IMAGE_STRENGTH');
    const copy = await ctx.request(null, { method: 'GET', url: new URL(content.init_image).pathname });
    assert.equal(copy.statusCode, 200);
    assert.deepEqual((await rawOf(copy.rawPayload)).data, init.data);
  });

  it('credits are charged for the denoising steps run: 45 steps at image_strength 0.35 cost as 29 steps (3 credits, not 5)', async () => {
    const body = { ...prompt, engine: 'img', resolution: '1024x1024', steps: 45, init_image: dataUrl(initPng) };
    const quote = await ctx.request(user.token, { method: 'POST', url: '/api/v1/quote', payload: body });
    assert.equal(quote.statusCode, 200, quote.body);
    assert.equal(quote.json().data.credits, 3);
    const text = await ctx.request(user.token, { method: 'POST', url: '/api/v1/quote', payload: { ...prompt, engine: 'img', resolution: '1024x1024', steps: 45 } });
    assert.equal(text.json().data.credits, 5);
    const before = await balance();
    const made = await generate('stablediffusion_img2img', { ...body, image_strength: 0.35 });
    assert.equal(made.response.credits, 3);
    assert.equal(made.response.content[0].dimensions, '1024x1024');
    assert.equal(await balance(), before - 3);
  });

  it('init_image_mode STEP_SCHEDULE: step_schedule_start is the strength (0.05 keeps the picture); step_schedule_end below 1 is refused', async () => {
    const init = await rawOf(initPng);
    const made = await generate('stablediffusion_img2img', { ...prompt, engine: 'img', steps: 20, sampler: 'euler', init_image: dataUrl(initPng), init_image_mode: 'STEP_SCHEDULE', step_schedule_start: 0.05, step_schedule_end: 1 });
    assert.ok(meanDiff(made.pixels.data, init.data) < 20);
    assert.equal(made.request.content.step_schedule_start, 0.05);
    const t = await thread('stablediffusion_img2img');
    const res = await post(t, { ...prompt, engine: 'img', init_image: dataUrl(initPng), init_image_mode: 'STEP_SCHEDULE', step_schedule_end: 0.5, image_strength: 0.5 });
    assert.equal(res.statusCode, 422);
    assert.deepEqual(Object.keys(res.json().errors).sort(), ['image_strength', 'step_schedule_end']);
  });

  it('without a resolution, the engine resolution closest to the init image is used (64×48 → 64x48)', async () => {
    const made = await generate('stablediffusion_img2img', { ...prompt, engine: 'img', steps: 2, init_image: initPng.toString('base64') });
    assert.equal(made.request.content.resolution, '64x48');
    assert.equal(made.response.content[0].dimensions, '64x48');
  });

  it('a multipart file upload (what curl -F init_image=@a.png sends) generates', async () => {
    const t = await thread('stablediffusion_img2img');
    const boundary = '----sdapi-i2i';
    const fields = multipartBody({ engine: 'img', resolution: '64x48', 'prompts[0][text]': 'a lighthouse', steps: '2' }, boundary);
    const head = fields.payload.slice(0, -`--${boundary}--\r\n`.length);
    const payload = Buffer.concat([
      Buffer.from(`${head}--${boundary}\r\nContent-Disposition: form-data; name="init_image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n`),
      initPng,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const res = await ctx.request(user.token, { method: 'POST', url: `/api/v1/threads/${t}/entry`, headers: { 'content-type': fields.contentType }, payload });
    assert.equal(res.statusCode, 201, res.body);
    const entries = await waitForResponse(ctx, user.token, t);
    assert.equal(entries[1].error, null);
    assert.equal(entries[1].content[0].dimensions, '64x48');
  });

  it("carries on from an image made in a text-to-image thread by its url and by its guid; another account's url is refused as not found", async () => {
    const made = await generate('stablediffusion_text2img', { ...prompt, engine: 'img', resolution: '64x48', steps: 2 });
    const url: string = made.response.content[0].url;
    const guid = /([0-9a-f-]{36})\.png$/.exec(url)?.[1];
    assert.ok(guid);
    const byUrl = await generate('stablediffusion_img2img', { ...prompt, engine: 'img', steps: 20, sampler: 'euler', init_image: url, image_strength: 0.95 });
    assert.ok(meanDiff(byUrl.pixels.data, made.pixels.data) < 20, 'carried on from that image');
    const byGuid = await generate('stablediffusion_img2img', { ...prompt, engine: 'img', steps: 2, init_image: guid });
    assert.equal(byGuid.response.error, null);
    // The request's own copy of an input is referable too (what "reuse settings" sends back).
    const again = await generate('stablediffusion_img2img', { ...prompt, engine: 'img', steps: 2, init_image: byUrl.request.content.init_image });
    assert.equal(again.response.error, null);

    const theirs = await thread('stablediffusion_img2img', other.token);
    const before = await balance(other.token);
    for (const ref of [url, guid, new URL(url).pathname, byUrl.request.content.init_image]) {
      const res = await post(theirs, { ...prompt, engine: 'img', resolution: '64x48', init_image: ref }, other.token);
      assert.equal(res.statusCode, 422, res.body);
      assert.deepEqual(res.json().errors.init_image, ['The init_image is not usable: The image was not found in your account.']);
    }
    assert.equal(await balance(other.token), before);
    const missing = await post(theirs, { ...prompt, engine: 'img', resolution: '64x48', init_image: '00000000-0000-4000-8000-000000000000' }, other.token);
    assert.deepEqual(missing.json().errors.init_image, ['The init_image is not usable: The image was not found in your account.']);
  });

  it('inpainting: MASK_IMAGE_WHITE, MASK_IMAGE_BLACK (inverted mask) and INIT_IMAGE_ALPHA repaint the same region and keep the rest', async () => {
    const init = await rawOf(initPng);
    const common = { ...prompt, engine: 'inpaint', resolution: '64x48', steps: 4, sampler: 'euler', seed: 9, image_strength: 0 };
    const white = await generate('stablediffusion_inpaint', { ...common, init_image: dataUrl(initPng), mask_image: dataUrl(await png(maskRaw(), 1)), mask_source: 'MASK_IMAGE_WHITE' });
    const black = await generate('stablediffusion_inpaint', { ...common, init_image: dataUrl(initPng), mask_image: dataUrl(await png(maskRaw(true), 1)), mask_source: 'MASK_IMAGE_BLACK' });
    const alpha = await generate('stablediffusion_inpaint', { ...common, init_image: dataUrl(await png(rgbaWithHole(), 4)), mask_source: 'INIT_IMAGE_ALPHA' });
    const outside = (x: number, y: number) => !inRectangle(x, y);
    for (const [name, made] of [['white', white], ['black', black], ['alpha', alpha]] as const) {
      assert.ok(meanDiff(made.pixels.data, init.data, outside) < 12, `${name}: the unmasked region is the init image (within the block VAE's box averages)`);
      assert.ok(meanDiff(made.pixels.data, init.data, inRectangle) > 20, `${name}: the masked region is repainted`);
    }
    assert.deepEqual(black.pixels.data, white.pixels.data, 'the inverted mask with MASK_IMAGE_BLACK is the same request');
    assert.deepEqual(alpha.pixels.data, white.pixels.data, 'transparency is the same mask');
    assert.equal(white.request.content.mask_source, 'MASK_IMAGE_WHITE');
    assert.match(white.request.content.mask_image, /\/storage\/inputs\/[0-9a-f-]{36}\.png$/);
  });

  it('a 4-channel model inpaints by blending the known region back (the documented fallback); mask_blur is taken', async () => {
    const init = await rawOf(initPng);
    const made = await generate('stablediffusion_inpaint', {
      ...prompt,
      engine: 'img',
      resolution: '64x48',
      steps: 4,
      image_strength: 0,
      init_image: dataUrl(initPng),
      mask_image: dataUrl(await png(maskRaw(), 1)),
      mask_blur: 2,
    });
    assert.equal(made.request.content.mask_source, 'MASK_IMAGE_WHITE', 'the default with a mask_image');
    assert.equal(made.request.content.mask_blur, 2);
    assert.ok(meanDiff(made.pixels.data, init.data, (x, y) => !inRectangle(x, y) && (x < 8 || x >= 48 || y >= 40)) < 20);
    assert.ok(meanDiff(made.pixels.data, init.data, (x, y) => x >= 20 && x < 36 && y >= 12 && y < 28) > 20);
  });

  it('mask_blur acts before binarisation: a sharp 1-pixel line repaints its latent cells, blurred with σ 3 it repaints none', async () => {
    const init = await rawOf(initPng);
    // Column 24 holds the top-left pixels of latent column 3, so the sharp line reaches the latent mask.
    const line = Buffer.alloc(W * H);
    for (let y = 0; y < H; y++) line[y * W + 24] = 255;
    const body = { ...prompt, engine: 'inpaint', resolution: '64x48', steps: 4, sampler: 'euler', seed: 4, image_strength: 0, init_image: dataUrl(initPng), mask_image: dataUrl(await png(line, 1)) };
    const sharpLine = await generate('stablediffusion_inpaint', body);
    const blurred = await generate('stablediffusion_inpaint', { ...body, mask_blur: 3 });
    const cells = (x: number) => x >= 24 && x < 32;
    const sharpDiff = meanDiff(sharpLine.pixels.data, init.data, cells);
    const blurDiff = meanDiff(blurred.pixels.data, init.data, cells);
    // The block VAE's round trip alone is off by its 8×8 box averages there (the bright block's edges cross those cells).
    assert.ok(sharpDiff > blurDiff + 15, `the sharp line repaints its cells (${sharpDiff.toFixed(1)}), the blurred one (under 50 % everywhere) does not (${blurDiff.toFixed(1)})`);
    assert.ok(meanDiff(blurred.pixels.data, init.data, (x) => x < 16 || x >= 40) < 12, 'and the rest is kept');
  });

  it('GET /engines says which requests each engine takes', async () => {
    const engines = (await ctx.request(user.token, { method: 'GET', url: '/api/v1/engines' })).json().data as { id: string; inputs: unknown }[];
    const inputs = Object.fromEntries(engines.map((e) => [e.id, e.inputs]));
    assert.deepEqual(inputs.img, { text_to_image: true, image_to_image: true, inpainting: 'blend', hires: true });
    assert.deepEqual(inputs.inpaint, { text_to_image: false, image_to_image: false, inpainting: 'model', hires: false });
    assert.deepEqual(inputs['text-only'], { text_to_image: true, image_to_image: false, inpainting: null, hires: false });
  });

  it('bad images answer 422 naming the field and charge nothing: truncated PNG, 0×0, a 20000×20000 header, wrong types, too large', async () => {
    const t = await thread('stablediffusion_img2img');
    const before = await balance();
    const big = Buffer.alloc(10 * 1024 * 1024 + 1, 1);
    const gif = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');
    const cases: [string, string, RegExp][] = [
      ['truncated PNG', dataUrl(initPng.subarray(0, Math.floor(initPng.length / 2))), /damaged or truncated|could not be read/],
      ['0×0 PNG', dataUrl(headerOnlyPng(0, 0)), /could not be read|no pixels/],
      ['20000×20000 header', dataUrl(headerOnlyPng(20000, 20000)), /4096 pixels a side|could not be read/],
      ['GIF', dataUrl(gif, 'image/gif'), /PNG, JPEG or WebP/],
      ['text', dataUrl(Buffer.from('hello, I am not an image'), 'text/plain'), /could not be read/],
      ['not base64', 'data:image/png;base64,@@@@', /not valid base64/],
      ['garbage', 'hello there!', /must be a file, a data: URL/],
      // 2 MB of spaces before a bad character: the old base64 pattern backtracked quadratically (hours here).
      ['whitespace flood', `A${' '.repeat(2_000_000)}!`, /must be a file, a data: URL/],
      ['whitespace flood in a data: URL', `data:image/png;base64,A${' '.repeat(2_000_000)}!`, /not valid base64/],
      ['over 10 MB', dataUrl(big), /larger than 10 MB/],
    ];
    for (const [name, value, message] of cases) {
      const res = await post(t, { ...prompt, engine: 'img', resolution: '64x48', init_image: value });
      assert.equal(res.statusCode, 422, `${name}: ${res.body.slice(0, 200)}`);
      assert.deepEqual(Object.keys(res.json().errors), ['init_image'], name);
      assert.match(res.json().errors.init_image[0], message, name);
    }
    const mask = await ctx.request(user.token, { method: 'POST', url: `/api/v1/threads/${await thread('stablediffusion_inpaint')}/entry`, payload: { ...prompt, engine: 'inpaint', init_image: dataUrl(initPng), mask_image: dataUrl(headerOnlyPng(20000, 20000)) } });
    assert.equal(mask.statusCode, 422);
    assert.deepEqual(Object.keys(mask.json().errors), ['mask_image']);
    assert.equal(await balance(), before);
    const entries = await ctx.request(user.token, { method: 'GET', url: `/api/v1/threads/${t}/entries` });
    assert.deepEqual(entries.json().data, []);
  });

  it('the thread kind and the engine decide which fields apply, all named in one 422', async () => {
    const text = await thread('stablediffusion_text2img');
    const r1 = await post(text, { ...prompt, engine: 'img', resolution: '64x48', init_image: dataUrl(initPng), image_strength: 0.5 });
    assert.equal(r1.statusCode, 422);
    assert.match(r1.json().errors.init_image[0], /stablediffusion_img2img or stablediffusion_inpaint/);
    const r2 = await post(text, { ...prompt, engine: 'img', resolution: '64x48', image_strength: 0.5, mask_source: 'MASK_IMAGE_WHITE' });
    assert.deepEqual(Object.keys(r2.json().errors).sort(), ['image_strength', 'mask_source']);
    const r3 = await post(text, { ...prompt, engine: 'inpaint', resolution: '64x48' });
    assert.match(r3.json().errors.engine[0], /inpainting model/);

    const img = await thread('stablediffusion_img2img');
    const r4 = await post(img, { ...prompt, engine: 'img', resolution: '64x48' });
    assert.deepEqual(r4.json().errors, { init_image: ['The init_image field is required in this thread.'] });
    const r5 = await post(img, { ...prompt, engine: 'img', resolution: '64x48', init_image: dataUrl(initPng), mask_image: dataUrl(initPng), steps: 20, image_strength: 0.96 });
    assert.deepEqual(Object.keys(r5.json().errors).sort(), ['image_strength', 'mask_image']);
    assert.match(r5.json().errors.image_strength[0], /leaves no denoising step/);
    const r6 = await post(img, { ...prompt, engine: 'text-only', resolution: '64x64', init_image: dataUrl(initPng) });
    assert.match(r6.json().errors.engine[0], /no VAE encoder/);
    const r7 = await post(img, { ...prompt, engine: 'inpaint', resolution: '64x48', init_image: dataUrl(initPng) });
    assert.match(r7.json().errors.engine[0], /inpainting model: it needs a mask/);

    const inpaint = await thread('stablediffusion_inpaint');
    const r8 = await post(inpaint, { ...prompt, engine: 'inpaint', resolution: '64x48', init_image: dataUrl(initPng) });
    assert.match(r8.json().errors.init_image[0], /no alpha channel/);
    const r9 = await post(inpaint, { ...prompt, engine: 'inpaint', resolution: '64x48', init_image: dataUrl(initPng), mask_source: 'MASK_IMAGE_BLACK' });
    assert.deepEqual(Object.keys(r9.json().errors), ['mask_image']);
    const r10 = await post(inpaint, { ...prompt, engine: 'inpaint', resolution: '64x48', init_image: dataUrl(initPng), mask_source: 'SOMETHING', image_strength: 2, mask_blur: 100 });
    assert.deepEqual(Object.keys(r10.json().errors).sort(), ['image_strength', 'mask_blur', 'mask_source']);
  });

  it('hires fix: generates, upscales ×2 with Lanczos and refines; charged as a second request at the output size; bad hires fields are named', async () => {
    // An engine that generates 64x48 as such: the ×2 upscale keeps the block VAE's 8×8 grid aligned.
    const body = { ...prompt, engine: 'img-native', resolution: '64x48', steps: 4, sampler: 'euler', seed: 21 };
    const plain = await generate('stablediffusion_text2img', body);
    const hires = await generate('stablediffusion_text2img', { ...body, hires: { scale: 2, strength: 0.05, steps: 20 } });
    assert.equal(hires.response.content[0].dimensions, '128x96');
    assert.deepEqual([hires.pixels.width, hires.pixels.height], [128, 96]);
    assert.deepEqual(hires.request.content.hires, { scale: 2, strength: 0.05, steps: 20 });
    assert.match(readTextChunks(hires.png).parameters, /Denoising strength: 0\.05, Hires upscale: 2, Hires steps: 20, Hires upscaler: Lanczos/);
    // A light refinement keeps the first pass's picture: the result shrunk back is close to the plain image.
    const shrunk = await sharp(hires.png).resize(W, H, { kernel: 'lanczos3' }).removeAlpha().raw().toBuffer();
    assert.ok(meanDiff(shrunk, plain.pixels.data) < 25, `refined from the first pass (${meanDiff(shrunk, plain.pixels.data).toFixed(1)})`);
    // An upscaling engine (its first pass is the model's native area) refines at that size × scale and delivers the resolution × scale.
    const upscaling = await generate('stablediffusion_text2img', { ...prompt, engine: 'img', resolution: '1024x1024', steps: 2, hires: { scale: 1.5, strength: 0.5, steps: 2 } });
    assert.equal(upscaling.response.content[0].dimensions, '1536x1536');
    const upscaledOnly = await sharp(plain.png).resize(128, 96, { kernel: 'lanczos3' }).removeAlpha().raw().toBuffer();
    assert.notDeepEqual(hires.pixels.data, upscaledOnly, 'the upscale was refined by the model');
    // The price: the first pass at 64x48 plus int(20 × 0.05) = 1 step at 128x96 (1 + 1; both at the per-image minimum).
    assert.equal(hires.response.credits, 2);
    const big = await ctx.request(user.token, { method: 'POST', url: '/api/v1/quote', payload: { ...prompt, engine: 'img', resolution: '1024x1024', steps: 45, hires: { scale: 2, strength: 0.5, steps: 20 } } });
    assert.equal(big.json().data.credits, 5 + 4, '45 steps at 1024² (5) + int(20 × 0.5) = 10 steps at 2048² (4)');
    const quote = (hires: object, extra: object = {}) => ctx.request(user.token, { method: 'POST', url: '/api/v1/quote', payload: { ...body, ...extra, hires } });
    const tooBig = await quote({ scale: 2.5 }, { engine: 'img', resolution: '1024x1024' });
    assert.equal(tooBig.statusCode, 422);
    assert.match(tooBig.json().errors['hires.scale'][0], /larger than this engine allows/);
    const bad = await quote({ scale: 5, strength: -1, steps: 0, extra: 1 });
    assert.equal(bad.statusCode, 422);
    assert.ok(Object.keys(bad.json().errors).every((k) => k.startsWith('hires')), JSON.stringify(bad.json().errors));
    const noStep = await quote({ scale: 2, strength: 0.01, steps: 8 });
    assert.match(noStep.json().errors['hires.strength'][0], /no denoising step/);
    const withImage = await ctx.request(user.token, { method: 'POST', url: '/api/v1/quote', payload: { ...body, init_image: dataUrl(initPng), hires: { scale: 2 } } });
    assert.match(withImage.json().errors.hires[0], /text-to-image requests only/);
    const noEncoderEngine = await quote({ scale: 1 }, { engine: 'text-only', resolution: '64x64' });
    assert.match(noEncoderEngine.json().errors.hires[0], /no VAE encoder/);
  });

  it("deleting an image request deletes its input copies; the copy is no longer referable", async () => {
    const made = await generate('stablediffusion_img2img', { ...prompt, engine: 'img', steps: 2, init_image: dataUrl(initPng) });
    const key = new URL(made.request.content.init_image).pathname.replace('/storage/', '');
    assert.ok(existsSync(join(ctx.dataDir, 'storage', key)));
    const del = await ctx.request(user.token, { method: 'DELETE', url: `/api/v1/threads/${made.thread}/entries/${made.request.guid}` });
    assert.ok(del.statusCode < 300, del.body);
    assert.equal(existsSync(join(ctx.dataDir, 'storage', key)), false);
    const t = await thread('stablediffusion_img2img');
    const res = await post(t, { ...prompt, engine: 'img', init_image: made.request.content.init_image });
    assert.equal(res.statusCode, 422);
  });
});
