/**
 * The OpenAI Images API under /v1, driven by the official `openai` npm package pointed at a listening server with
 * `baseURL`: url and b64_json answers, streaming, the models list, error mapping (bad size, bad key, credits,
 * rate limit, timeout), repeats of the same request (SDK retries) answered once and charged once, the request's
 * place in the account's "OpenAI API" thread and ledger, and tenant isolation.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import sharp from 'sharp';
import type { GenerateControl, GenerateRequest, GeneratedImage, ImageGenerator, ModelTarget } from '../../src/services/generation/image-generator.ts';
import { memoryRequestLimiter } from '../../src/services/limits/request-limiter.ts';
import { createApiContext, PUBLIC_URL, type ApiContext } from '../helpers/api-context.ts';

const MODEL = 'sdapi-demo-shapes';
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

async function listen(ctx: ApiContext): Promise<string> {
  await ctx.app.listen({ host: '127.0.0.1', port: 0 });
  const address = ctx.app.server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  return `http://127.0.0.1:${address.port}`;
}

function client(base: string, token: string): OpenAI {
  return new OpenAI({ apiKey: token, baseURL: `${base}/v1`, maxRetries: 0 });
}

async function balance(ctx: ApiContext, token: string): Promise<number> {
  const res = await ctx.request(token, { method: 'GET', url: '/api/v1/account' });
  return res.json().data.credits as number;
}

async function pixels(png: Buffer): Promise<Buffer> {
  return sharp(png).raw().toBuffer();
}

describe('OpenAI Images API (/v1) with the official openai client', () => {
  let ctx: ApiContext;
  let base: string;
  let alice: { id: string; token: string };
  let bob: { id: string; token: string };

  before(async () => {
    ctx = await createApiContext({ worker: true });
    base = await listen(ctx);
    alice = await ctx.user('alice@example.com', 1000);
    bob = await ctx.user('bob@example.com', 1000);
  });
  after(() => ctx.close());

  it('images.generate with response_format url: links to the stored PNGs, in the account\'s "OpenAI API" thread and ledger', async () => {
    const before = await balance(ctx, alice.token);
    const result = await client(base, alice.token).images.generate({ prompt: 'a red circle on a blue background', model: MODEL, size: '64x64', response_format: 'url', steps: 10, seed: 11 } as OpenAI.ImageGenerateParamsNonStreaming);
    assert.equal(typeof result.created, 'number');
    assert.equal(result.data?.length, 1);
    const [image] = result.data ?? [];
    assert.equal(image.revised_prompt, null);
    assert.ok(image.url?.startsWith(`${PUBLIC_URL}/storage/`), image.url);
    const file = await ctx.request(null, { method: 'GET', url: new URL(image.url ?? '').pathname });
    assert.equal(file.statusCode, 200);
    assert.deepEqual(file.rawPayload.subarray(0, 8), PNG_SIGNATURE);
    assert.equal((await sharp(file.rawPayload).metadata()).width, 64);

    const cost = before - (await balance(ctx, alice.token));
    assert.ok(cost > 0, 'charged');
    const threads = (await ctx.request(alice.token, { method: 'GET', url: '/api/v1/threads' })).json().data as { guid: string; title: string }[];
    const thread = threads.find((t) => t.title === 'OpenAI API');
    assert.ok(thread, 'one thread for the protocol');
    const entries = (await ctx.request(alice.token, { method: 'GET', url: `/api/v1/threads/${thread.guid}/entries` })).json().data as Record<string, any>[];
    const request = entries.find((e) => e.type === 'request');
    assert.equal(request?.content.prompts[0].text, 'a red circle on a blue background');
    assert.equal(request?.content.engine, MODEL);
    assert.equal(entries.find((e) => e.type === 'response')?.content[0].url, image.url);
    const ledger = (await ctx.request(alice.token, { method: 'GET', url: '/api/v1/account/ledger' })).json().data as { kind: string; entry_guid?: string | null }[];
    assert.ok(ledger.some((l) => l.kind === 'charge'), JSON.stringify(ledger));
  });

  it('images.generate with b64_json and n: 2: the PNG bytes of each image, one seed apart, in the same thread', async () => {
    const result = await client(base, alice.token).images.generate({ prompt: 'a green square', model: MODEL, size: '64x64', n: 2, response_format: 'b64_json', steps: 10, seed: 21 } as OpenAI.ImageGenerateParamsNonStreaming);
    assert.equal(result.data?.length, 2);
    const images = (result.data ?? []).map((d) => Buffer.from(d.b64_json ?? '', 'base64'));
    for (const png of images) assert.deepEqual(png.subarray(0, 8), PNG_SIGNATURE);
    assert.notDeepEqual(await pixels(images[0]), await pixels(images[1]), 'image i uses seed + i');
    const threads = (await ctx.request(alice.token, { method: 'GET', url: '/api/v1/threads' })).json().data as { title: string }[];
    assert.equal(threads.filter((t) => t.title === 'OpenAI API').length, 1, 'still one thread for the protocol');
  });

  it('output_format jpeg and webp with b64_json; refused with url', async () => {
    const openai = client(base, alice.token);
    const jpeg = await openai.images.generate({ prompt: 'a blue triangle', model: MODEL, size: '64x64', response_format: 'b64_json', output_format: 'jpeg', steps: 10, seed: 3 } as OpenAI.ImageGenerateParamsNonStreaming);
    assert.equal((await sharp(Buffer.from(jpeg.data?.[0].b64_json ?? '', 'base64')).metadata()).format, 'jpeg');
    const webp = await openai.images.generate({ prompt: 'a blue triangle', model: MODEL, size: '64x64', response_format: 'b64_json', output_format: 'webp', steps: 10, seed: 3 } as OpenAI.ImageGenerateParamsNonStreaming);
    assert.equal((await sharp(Buffer.from(webp.data?.[0].b64_json ?? '', 'base64')).metadata()).format, 'webp');
    await assert.rejects(openai.images.generate({ prompt: 'a blue triangle', model: MODEL, size: '64x64', response_format: 'url', output_format: 'jpeg' }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.BadRequestError);
      assert.equal(err.param, 'output_format');
      return true;
    });
  });

  it('stream: true answers server-sent events the SDK reads, ending with image_generation.completed', async () => {
    const stream = await client(base, alice.token).images.generate({ prompt: 'a yellow circle', model: MODEL, size: '64x64', stream: true, partial_images: 2, steps: 10, seed: 5 } as OpenAI.ImageGenerateParamsStreaming);
    const events: OpenAI.ImageGenStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    const completed = events.filter((e) => e.type === 'image_generation.completed');
    assert.equal(completed.length, 1);
    assert.deepEqual(Buffer.from(completed[0].b64_json, 'base64').subarray(0, 8), PNG_SIGNATURE);
    assert.equal(completed[0].size, '64x64');
    for (const partial of events.filter((e) => e.type === 'image_generation.partial_image')) {
      assert.ok(partial.partial_image_index < 2);
    }
  });

  it('models.list lists the engines as models', async () => {
    const models = [];
    for await (const model of client(base, alice.token).models.list()) models.push(model);
    assert.deepEqual(
      models.map((m) => m.id),
      ctx.services.engines.ids(),
    );
    for (const m of models) {
      assert.equal(m.object, 'model');
      assert.equal(m.owned_by, 'sdapi');
      assert.equal(typeof m.created, 'number');
    }
    assert.equal((await client(base, alice.token).models.retrieve(MODEL)).id, MODEL);
    await assert.rejects(client(base, alice.token).models.retrieve('gpt-image-1'), (err: unknown) => {
      assert.ok(err instanceof OpenAI.NotFoundError, String(err));
      assert.equal(err.code, 'model_not_found');
      return true;
    });
  });

  it('a size the engine does not offer is a BadRequestError naming param "size"; a bad key an AuthenticationError', async () => {
    await assert.rejects(client(base, alice.token).images.generate({ prompt: 'x', model: MODEL, size: '1024x1024' }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.BadRequestError, String(err));
      assert.equal(err.status, 400);
      assert.equal(err.param, 'size');
      assert.equal(err.code, 'invalid_value');
      assert.equal(err.type, 'invalid_request_error');
      assert.match(err.message, /size must be one of: 64x64/);
      return true;
    });
    await assert.rejects(client(base, 'not-a-token').images.generate({ prompt: 'x' }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.AuthenticationError, String(err));
      assert.equal(err.code, 'invalid_api_key');
      return true;
    });
    await assert.rejects(client(base, alice.token).images.generate({ prompt: 'x', model: 'dall-e-3' }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.BadRequestError);
      assert.equal(err.param, 'model');
      return true;
    });
    await assert.rejects(client(base, alice.token).images.generate({ prompt: 'x', model: MODEL, size: '64x64', n: 11 }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.BadRequestError);
      assert.equal(err.param, 'n');
      return true;
    });
  });

  it('bad input answers 400 in OpenAI\'s error shape, never 422 or 500, and unknown /v1 routes 404 in that shape', async () => {
    const missing = await ctx.request(alice.token, { method: 'POST', url: '/v1/images/generations', payload: { size: '64x64' } });
    assert.equal(missing.statusCode, 400);
    assert.equal(missing.json().error.param, 'prompt');
    const broken = await ctx.request(alice.token, { method: 'POST', url: '/v1/images/generations', headers: { 'content-type': 'application/json' }, payload: '{"prompt":' });
    assert.equal(broken.statusCode, 400);
    assert.equal(broken.json().error.type, 'invalid_request_error');
    const transparent = await ctx.request(alice.token, { method: 'POST', url: '/v1/images/generations', payload: { prompt: 'x', model: MODEL, size: '64x64', background: 'transparent' } });
    assert.equal(transparent.json().error.param, 'background');
    const unknown = await ctx.request(alice.token, { method: 'GET', url: '/v1/chat/completions' });
    assert.equal(unknown.statusCode, 404);
    assert.equal(unknown.json().error.type, 'invalid_request_error');
  });

  it('too few credits is a 429 insufficient_quota that the SDK is told not to retry; no entry is charged', async () => {
    const poor = await ctx.user('poor@example.com', 0);
    await assert.rejects(client(base, poor.token).images.generate({ prompt: 'x', model: MODEL, size: '64x64' }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.RateLimitError, String(err));
      assert.equal(err.code, 'insufficient_quota');
      assert.equal(err.headers.get('x-should-retry'), 'false');
      return true;
    });
    assert.equal(await balance(ctx, poor.token), 0);
  });

  it('a repeat of the same request with the same token (an SDK retry) gets the first result and one charge; another token generates anew', async () => {
    const params = { prompt: 'a purple square, repeat', model: MODEL, size: '64x64', response_format: 'url', steps: 10 } as OpenAI.ImageGenerateParamsNonStreaming;
    const start = await balance(ctx, alice.token);
    const first = await client(base, alice.token).images.generate(params);
    const afterFirst = await balance(ctx, alice.token);
    const second = await client(base, alice.token).images.generate(params);
    assert.equal(second.data?.[0].url, first.data?.[0].url, 'the same image');
    assert.equal(await balance(ctx, alice.token), afterFirst, 'charged once');
    assert.ok(afterFirst < start);
    const other = await client(base, bob.token).images.generate(params);
    assert.notEqual(other.data?.[0].url, first.data?.[0].url, "another account's identical request is its own");
  });

  it("tenant isolation: one account's protocol thread is invisible to another", async () => {
    const aliceThreads = (await ctx.request(alice.token, { method: 'GET', url: '/api/v1/threads' })).json().data as { guid: string; title: string }[];
    const thread = aliceThreads.find((t) => t.title === 'OpenAI API');
    assert.ok(thread);
    const peek = await ctx.request(bob.token, { method: 'GET', url: `/api/v1/threads/${thread.guid}/entries` });
    assert.equal(peek.statusCode, 404);
    const bobThreads = (await ctx.request(bob.token, { method: 'GET', url: '/api/v1/threads' })).json().data as { guid: string; title: string }[];
    assert.ok(!bobThreads.some((t) => t.guid === thread.guid));
  });
});

describe('OpenAI Images API limits', () => {
  it('the rate limit applies to /v1 and /sdapi/v1 per token, with a 429 in each surface\'s shape', async () => {
    const ctx = await createApiContext({ overrides: { requestLimiter: memoryRequestLimiter({ name: 'default', quota: 2, windowSeconds: 60 }) } });
    try {
      const base = await listen(ctx);
      const user = await ctx.user('limited@example.com', 10);
      const openai = client(base, user.token);
      await openai.models.list();
      await openai.models.list();
      await assert.rejects(openai.models.list(), (err: unknown) => {
        assert.ok(err instanceof OpenAI.RateLimitError, String(err));
        assert.equal(err.code, 'rate_limit_exceeded');
        assert.ok(Number(err.headers.get('retry-after')) >= 1);
        assert.equal(err.headers.get('ratelimit-policy'), '"default";q=2;w=60');
        return true;
      });
      // The token's quota is one across surfaces; A1111's 429 is FastAPI's shape.
      const a1111 = await ctx.request(user.token, { method: 'GET', url: '/sdapi/v1/options' });
      assert.equal(a1111.statusCode, 429);
      assert.deepEqual(a1111.json(), { detail: 'Too Many Requests' });
      assert.ok(Number(a1111.headers['retry-after']) >= 1);
    } finally {
      await ctx.close();
    }
  });

  it('a generation not ready within SDAPI_SYNC_TIMEOUT answers 504 in OpenAI\'s shape; the request goes on', async () => {
    // No worker: the job stays queued.
    const ctx = await createApiContext({ env: { SDAPI_SYNC_TIMEOUT: '300ms' } });
    try {
      const user = await ctx.user('slow@example.com', 100);
      const res = await ctx.request(user.token, { method: 'POST', url: '/v1/images/generations', payload: { prompt: 'x', model: MODEL, size: '64x64' } });
      assert.equal(res.statusCode, 504);
      assert.equal(res.json().error.code, 'timeout');
      assert.equal(res.json().error.type, 'server_error');
    } finally {
      await ctx.close();
    }
  });
});

/**
 * Sends a live preview of image 0 at step 2 of 4, waits for the test's go-ahead, then one at step 4 of 4, waits again,
 * then generates for real: each preview is published before the next one is made.
 */
class PreviewThenHold implements ImageGenerator {
  #go: (() => void)[] = [];
  readonly #gates = [0, 1].map(() => new Promise<void>((resolve) => this.#go.push(resolve)));
  constructor(private readonly inner: ImageGenerator) {}
  preload(target: ModelTarget) {
    return this.inner.preload(target);
  }
  deviceFor(target: ModelTarget) {
    return this.inner.deviceFor(target);
  }
  async generate(target: ModelTarget, request: GenerateRequest, control: GenerateControl = {}): Promise<GeneratedImage[]> {
    for (const [i, step] of [2, 4].entries()) {
      control.preview?.onPreview({ image: 0, step, steps: 4, width: 8, height: 8, rgb: new Uint8Array(8 * 8 * 3).fill(step * 40) });
      await this.#gates[i];
    }
    return this.inner.generate(target, request, { ...control, preview: undefined });
  }
  /** Lets the next preview (then the generation) through. */
  advance(index: number) {
    this.#go[index]?.();
  }
  release() {
    this.advance(0);
    this.advance(1);
  }
  close() {
    return this.inner.close();
  }
}

describe('OpenAI streaming with partial images from the live previews', () => {
  let ctx: ApiContext;
  let generator: PreviewThenHold;
  after(async () => {
    generator?.release();
    await ctx?.close();
  });

  it('partial_images: 2 sends image_generation.partial_image events 0 and 1, then image_generation.completed', async () => {
    ctx = await createApiContext({ worker: true, overrides: { entryIntervals: { previewMs: 0 }, wrapGenerator: (inner) => (generator = new PreviewThenHold(inner)) } });
    const base = await listen(ctx);
    const user = await ctx.user('stream@example.com', 100);
    const stream = await client(base, user.token).images.generate({ prompt: 'a yellow circle', model: MODEL, size: '64x64', stream: true, partial_images: 2, steps: 10, seed: 5 } as OpenAI.ImageGenerateParamsStreaming);
    const events: OpenAI.ImageGenStreamEvent[] = [];
    for await (const event of stream) {
      events.push(event);
      if (event.type === 'image_generation.partial_image') generator.advance(event.partial_image_index);
    }
    assert.deepEqual(
      events.map((e) => (e.type === 'image_generation.partial_image' ? `partial ${e.partial_image_index}` : e.type)),
      ['partial 0', 'partial 1', 'image_generation.completed'],
    );
    const partial = events[0] as OpenAI.ImageGenPartialImageEvent;
    const meta = await sharp(Buffer.from(partial.b64_json, 'base64')).metadata();
    assert.equal(meta.format, 'png', 'in the output format');
    const completed = events[2] as OpenAI.ImageGenCompletedEvent;
    assert.deepEqual(Buffer.from(completed.b64_json, 'base64').subarray(0, 8), PNG_SIGNATURE);
  });
});
