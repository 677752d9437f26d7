/**
 * The playground's API: price a request (POST /quote), the gallery (GET /images), rename a thread (PATCH), delete one
 * request entry (DELETE …/entries/{entry_guid}), threads titled after their first prompt, and one 422 naming every
 * bad field. Tenant isolation for each.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createApiContext, formBody, TUTORIAL_FORM, TUTORIAL_JSON, waitForResponse, type ApiContext } from '../helpers/api-context.ts';
import { steppingClock } from '../helpers/clock.ts';

const DEFAULT_TITLE = 'New thread with Stable Diffusion Image Generation';
/** 512×512, 10 steps, 1 image: 1 credit, quick on the tiny model. */
const SMALL = { type: 'request', engine: 'stable-diffusion-v1-6', resolution: '512x512', prompts: [{ text: 'a red circle', weight: 1 }], images: 1, steps: 10 };
const THREE_BAD = { ...TUTORIAL_JSON, images: 11, steps: 0, resolution: 'big' };

async function newThread(ctx: ApiContext, token: string): Promise<string> {
  const res = await ctx.request(token, { method: 'POST', url: '/api/v1/threads', payload: { ai_version_code: 'stablediffusion_text2img' } });
  assert.equal(res.statusCode, 201);
  return res.json().data.guid;
}

async function balance(ctx: ApiContext, token: string): Promise<number> {
  return (await ctx.request(token, { method: 'GET', url: '/api/v1/account' })).json().data.credits;
}

describe('playground API (no worker: requests stay queued)', () => {
  let ctx: ApiContext;
  let alice: { id: string; token: string };
  let bob: { id: string; token: string };

  before(async () => {
    ctx = await createApiContext({ overrides: { clock: steppingClock() } });
    alice = await ctx.user('alice@example.com', 1000);
    bob = await ctx.user('bob@example.com', 1000);
  });
  after(() => ctx.close());

  it('one 422 names every bad field of an entry: images 11, steps 0 and resolution "big" together', async () => {
    const thread = await newThread(ctx, alice.token);
    const res = await ctx.request(alice.token, { method: 'POST', url: `/api/v1/threads/${thread}/entry`, payload: THREE_BAD });
    assert.equal(res.statusCode, 422);
    const body = res.json();
    assert.deepEqual(Object.keys(body.errors).sort(), ['images', 'resolution', 'steps']);
    assert.deepEqual(body.errors.images, ['The images may not be greater than 10.']);
    assert.deepEqual(body.errors.steps, ['The steps must be at least 1.']);
    assert.match(body.errors.resolution[0], /WIDTHxHEIGHT/);
    assert.match(body.message, /\(and 2 more errors\)$/);
    // The same from a form body (what the tutorial's client sends).
    const form = await ctx.request(alice.token, {
      method: 'POST',
      url: `/api/v1/threads/${thread}/entry`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: formBody({ ...TUTORIAL_FORM, images: '11', steps: '0', resolution: 'big' }),
    });
    assert.equal(form.statusCode, 422);
    assert.deepEqual(form.json(), body);
  });

  it('POST /quote prices a request with the server pricing, changes nothing, and answers the entry route’s 422', async () => {
    const before = await balance(ctx, alice.token);
    const res = await ctx.request(alice.token, { method: 'POST', url: '/api/v1/quote', payload: TUTORIAL_JSON });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { data: { credits: 10 } });
    const form = await ctx.request(alice.token, { method: 'POST', url: '/api/v1/quote', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: formBody(TUTORIAL_FORM) });
    assert.deepEqual(form.json(), { data: { credits: 10 } });
    // 4 images × 150 steps at 1024² = 4 × round(16.7) = 68 (the sign-up surprise the quote is there to prevent).
    const big = await ctx.request(alice.token, { method: 'POST', url: '/api/v1/quote', payload: { ...TUTORIAL_JSON, images: 4, steps: 150 } });
    assert.deepEqual(big.json(), { data: { credits: 68 } });
    const small = await ctx.request(alice.token, { method: 'POST', url: '/api/v1/quote', payload: SMALL });
    assert.deepEqual(small.json(), { data: { credits: 1 } });
    assert.equal(await balance(ctx, alice.token), before);
    assert.equal((await ctx.store.db.selectFrom('entries').select('id').where('user_id', '=', alice.id).execute()).length, 0);

    const thread = await newThread(ctx, alice.token);
    const quoted = await ctx.request(alice.token, { method: 'POST', url: '/api/v1/quote', payload: THREE_BAD });
    const entry = await ctx.request(alice.token, { method: 'POST', url: `/api/v1/threads/${thread}/entry`, payload: THREE_BAD });
    assert.equal(quoted.statusCode, 422);
    assert.deepEqual(quoted.json(), entry.json());
    const engine = await ctx.request(alice.token, { method: 'POST', url: '/api/v1/quote', payload: { ...TUTORIAL_JSON, engine: 'nope', steps: 999 } });
    assert.equal(engine.statusCode, 422);
    assert.ok(engine.json().errors.engine);

    const anon = await ctx.app.inject({ method: 'POST', url: '/api/v1/quote', payload: TUTORIAL_JSON });
    assert.equal(anon.statusCode, 401);
  });

  it('a thread is titled after its first prompt (the create answer keeps the tutorial title); later prompts do not rename it', async () => {
    const created = (await ctx.request(alice.token, { method: 'POST', url: '/api/v1/threads', payload: { ai_version_code: 'stablediffusion_text2img' } })).json().data;
    assert.equal(created.title, DEFAULT_TITLE);
    const entry = await ctx.request(alice.token, { method: 'POST', url: `/api/v1/threads/${created.guid}/entry`, payload: TUTORIAL_JSON });
    assert.equal(entry.statusCode, 201);
    const named = (await ctx.request(alice.token, { method: 'GET', url: `/api/v1/threads/${created.guid}` })).json().data;
    assert.equal(named.title, 'Delorean hacking time');
    await ctx.request(alice.token, { method: 'POST', url: `/api/v1/threads/${created.guid}/entry`, payload: { ...TUTORIAL_JSON, prompts: [{ text: 'something else', weight: 1 }] } });
    assert.equal((await ctx.request(alice.token, { method: 'GET', url: `/api/v1/threads/${created.guid}` })).json().data.title, 'Delorean hacking time');

    // A long prompt (the negative first, then a positive one with line breaks) is cut at a word, with an ellipsis.
    const long = await newThread(ctx, alice.token);
    const text = 'A  lighthouse\non a cliff at dusk, waves crashing below, dramatic clouds, volumetric light, highly detailed oil painting';
    await ctx.request(alice.token, { method: 'POST', url: `/api/v1/threads/${long}/entry`, payload: { ...TUTORIAL_JSON, prompts: [{ text: 'blurry', weight: -1 }, { text, weight: 1 }] } });
    const title = (await ctx.request(alice.token, { method: 'GET', url: `/api/v1/threads/${long}` })).json().data.title as string;
    assert.ok([...title].length <= 60, title);
    assert.equal(title, 'A lighthouse on a cliff at dusk, waves crashing below…');

    // A thread renamed before its first request keeps its name.
    const renamed = await newThread(ctx, alice.token);
    await ctx.request(alice.token, { method: 'PATCH', url: `/api/v1/threads/${renamed}`, payload: { title: 'My series' } });
    await ctx.request(alice.token, { method: 'POST', url: `/api/v1/threads/${renamed}/entry`, payload: TUTORIAL_JSON });
    assert.equal((await ctx.request(alice.token, { method: 'GET', url: `/api/v1/threads/${renamed}` })).json().data.title, 'My series');
  });

  it('PATCH /threads/{guid} renames (trimmed), refuses blank, long and control-character titles with 422, and is 404 for another account', async () => {
    const thread = await newThread(ctx, alice.token);
    const res = await ctx.request(alice.token, { method: 'PATCH', url: `/api/v1/threads/${thread}`, payload: { title: '  Neon cars  ' } });
    assert.equal(res.statusCode, 200);
    const data = res.json().data;
    assert.deepEqual(Object.keys(data).sort(), ['ai_code', 'ai_version_code', 'created_at', 'guid', 'title', 'updated_at']);
    assert.equal(data.title, 'Neon cars');
    assert.notEqual(data.updated_at, data.created_at);
    assert.equal((await ctx.request(alice.token, { method: 'PATCH', url: `/api/v1/threads/${thread}`, payload: { title: 'é'.repeat(100) } })).statusCode, 200);

    for (const payload of [{}, { title: '' }, { title: '   ' }, { title: 'x'.repeat(101) }, { title: 'two\nlines' }, { title: 'nul\u0000' }, { title: { a: 1 } }, { title: null }]) {
      const bad = await ctx.request(alice.token, { method: 'PATCH', url: `/api/v1/threads/${thread}`, payload });
      assert.equal(bad.statusCode, 422, JSON.stringify(payload));
      assert.ok(Array.isArray(bad.json().errors.title), `${JSON.stringify(payload)} → ${bad.body}`);
    }
    assert.equal((await ctx.request(alice.token, { method: 'GET', url: `/api/v1/threads/${thread}` })).json().data.title, 'é'.repeat(100));

    const other = await ctx.request(bob.token, { method: 'PATCH', url: `/api/v1/threads/${thread}`, payload: { title: 'mine now' } });
    assert.equal(other.statusCode, 404);
    assert.equal((await ctx.request(alice.token, { method: 'GET', url: `/api/v1/threads/${thread}` })).json().data.title, 'é'.repeat(100));
    for (const guid of ['6b0f4f7e-0000-4000-8000-000000000000', 'not-a-uuid']) {
      assert.equal((await ctx.request(alice.token, { method: 'PATCH', url: `/api/v1/threads/${guid}`, payload: { title: 'x' } })).statusCode, 404);
    }
  });

  it('DELETE …/entries/{entry_guid} deletes a queued request, cancels its job and refunds it; other entries stay', async () => {
    const user = await ctx.user('entry-deleter@example.com', 50);
    const thread = await newThread(ctx, user.token);
    const first = (await ctx.request(user.token, { method: 'POST', url: `/api/v1/threads/${thread}/entry`, payload: TUTORIAL_JSON })).json().data;
    const second = (await ctx.request(user.token, { method: 'POST', url: `/api/v1/threads/${thread}/entry`, payload: SMALL })).json().data;
    assert.equal(await balance(ctx, user.token), 39);
    // The entry list is cached per thread version: read it once so the delete must invalidate it.
    assert.equal((await ctx.request(user.token, { method: 'GET', url: `/api/v1/threads/${thread}/entries` })).json().data.length, 2);

    const res = await ctx.request(user.token, { method: 'DELETE', url: `/api/v1/threads/${thread}/entries/${first.guid}` });
    assert.equal(res.statusCode, 204);
    assert.equal(res.body, '');
    assert.equal(await balance(ctx, user.token), 49);
    const left = (await ctx.request(user.token, { method: 'GET', url: `/api/v1/threads/${thread}/entries` })).json().data;
    assert.deepEqual(left.map((e: { guid: string }) => e.guid), [second.guid]);
    const job = await ctx.store.db.selectFrom('jobs').select('status').where('entry_id', '=', first.guid).executeTakeFirstOrThrow();
    assert.equal(job.status, 'cancelled');
    const ledger = (await ctx.services.credits.listLedger(user.id)).items.filter((l) => l.entryId === first.guid);
    assert.deepEqual(ledger.map((l) => l.kind).sort(), ['refund', 'reserve']);
    assert.match(ledger.find((l) => l.kind === 'refund')!.reason, /deleted/);
    // Gone: a second delete is a 404, the thread and its other entry are there.
    assert.equal((await ctx.request(user.token, { method: 'DELETE', url: `/api/v1/threads/${thread}/entries/${first.guid}` })).statusCode, 404);
    assert.equal((await ctx.request(user.token, { method: 'GET', url: `/api/v1/threads/${thread}` })).statusCode, 200);
  });

  it('DELETE …/entries/{entry_guid} is 404 for another account, another thread and unknown ids, and changes nothing', async () => {
    const thread = await newThread(ctx, alice.token);
    const entry = (await ctx.request(alice.token, { method: 'POST', url: `/api/v1/threads/${thread}/entry`, payload: SMALL })).json().data;
    const otherThread = await newThread(ctx, alice.token);
    const bobThread = await newThread(ctx, bob.token);
    const [aliceBefore, bobBefore] = [await balance(ctx, alice.token), await balance(ctx, bob.token)];
    const attempts: [string, string][] = [
      [bob.token, `/api/v1/threads/${thread}/entries/${entry.guid}`],
      [bob.token, `/api/v1/threads/${bobThread}/entries/${entry.guid}`],
      [alice.token, `/api/v1/threads/${otherThread}/entries/${entry.guid}`],
      [alice.token, `/api/v1/threads/${thread}/entries/6b0f4f7e-0000-4000-8000-000000000000`],
      [alice.token, `/api/v1/threads/${thread}/entries/not-a-uuid`],
    ];
    for (const [token, url] of attempts) {
      const res = await ctx.request(token, { method: 'DELETE', url });
      assert.equal(res.statusCode, 404, url);
      assert.equal(typeof res.json().message, 'string');
    }
    assert.equal(await balance(ctx, alice.token), aliceBefore);
    assert.equal(await balance(ctx, bob.token), bobBefore);
    const still = (await ctx.request(alice.token, { method: 'GET', url: `/api/v1/threads/${thread}/entries` })).json().data;
    assert.equal(still.length, 1);
    const job = await ctx.store.db.selectFrom('jobs').select('status').where('entry_id', '=', entry.guid).executeTakeFirstOrThrow();
    assert.equal(job.status, 'pending');
  });
});

describe('OpenAPI examples', () => {
  let ctx: ApiContext;
  let doc: Record<string, any>;
  before(async () => {
    ctx = await createApiContext();
    doc = (await ctx.app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json();
  });
  after(() => ctx.close());

  const exampleOf = (media: Record<string, any> | undefined) => media?.example ?? (Object.values(media?.examples ?? {}) as { value?: unknown }[])[0]?.value;

  it('the entry route shows the tutorial’s own request and answer', () => {
    const entry = doc.paths['/api/v1/threads/{guid}/entry'].post;
    for (const type of ['application/json', 'application/x-www-form-urlencoded', 'multipart/form-data']) {
      assert.deepEqual(exampleOf(entry.requestBody.content[type]), TUTORIAL_JSON, type);
    }
    const created = exampleOf(entry.responses['201'].content['application/json']).data;
    assert.equal(created.type, 'request');
    assert.deepEqual(created.content.prompts, TUTORIAL_JSON.prompts);
    assert.equal(created.waiting_response, true);
    const listed = exampleOf(doc.paths['/api/v1/threads/{guid}/entries'].get.responses['200'].content['application/json']).data;
    assert.deepEqual(listed.map((e: { type: string }) => e.type), ['request', 'response']);
    assert.equal(listed[1].content.length, 2);
    assert.equal(listed[1].credits, 10);
    const thread = exampleOf(doc.paths['/api/v1/threads'].post.responses['201'].content['application/json']).data;
    assert.equal(thread.title, DEFAULT_TITLE);
    assert.deepEqual(exampleOf(doc.paths['/api/v1/quote'].post.responses['200'].content['application/json']), { data: { credits: 10 } });
    const invalid = exampleOf(entry.responses['422'].content['application/json']);
    assert.deepEqual(Object.keys(invalid.errors).sort(), ['images', 'resolution', 'steps']);
  });

  it('every request body and success answer of the thread, entry, quote, image, engine and account routes has an example, and none is a placeholder', () => {
    const paths = Object.entries<Record<string, any>>(doc.paths).filter(([path]) => /^\/api\/v1\/(threads|quote|images|engines|account$)/.test(path));
    assert.ok(paths.length >= 7);
    for (const [path, methods] of paths) {
      for (const [method, op] of Object.entries<Record<string, any>>(methods)) {
        for (const [type, media] of Object.entries<Record<string, any>>(op.requestBody?.content ?? {})) {
          assert.ok(exampleOf(media), `${method} ${path} ${type} request example`);
        }
        for (const [status, response] of Object.entries<Record<string, any>>(op.responses ?? {})) {
          if (!status.startsWith('2') || !response.content) continue;
          // JSON answers, or the one type a route produces (the event stream's text/event-stream).
          const media = response.content['application/json'] ?? Object.values<Record<string, any>>(response.content)[0];
          assert.ok(exampleOf(media), `${method} ${path} ${status} example`);
        }
      }
    }
    const text = JSON.stringify(doc);
    assert.doesNotMatch(text, /"example":"string"/);
  });
});

describe('playground API (with a worker: images are delivered)', () => {
  let ctx: ApiContext;
  let carol: { id: string; token: string };
  let dave: { id: string; token: string };
  let thread = '';
  let requests: string[] = [];

  before(async () => {
    ctx = await createApiContext({ worker: true });
    carol = await ctx.user('carol@example.com', 100);
    dave = await ctx.user('dave@example.com', 100);
    thread = await newThread(ctx, carol.token);
    // Three images in two requests, one after the other (the second is newer).
    for (const body of [{ ...SMALL, images: 2, seed: 100 }, { ...SMALL, prompts: [{ text: 'a blue square', weight: 1 }], seed: 500 }]) {
      const entry = (await ctx.request(carol.token, { method: 'POST', url: `/api/v1/threads/${thread}/entry`, payload: body })).json().data;
      requests.push(entry.guid);
      for (;;) {
        const entries = await waitForResponse(ctx, carol.token, thread);
        if (entries.some((e) => e.request_guid === entry.guid)) break;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  });
  after(() => ctx.close());

  it('GET /images lists the account’s images newest first, with entry, thread, urls, size and seed', async () => {
    const res = await ctx.request(carol.token, { method: 'GET', url: '/api/v1/images' });
    assert.equal(res.statusCode, 200);
    const { data, meta } = res.json();
    assert.deepEqual(meta, { current_page: 1, per_page: 20, total: 3, last_page: 1 });
    assert.deepEqual(
      data.map((i: { entry_guid: string; seed: number; position: number }) => [i.entry_guid, i.seed, i.position]),
      [
        [requests[1], 500, 0],
        [requests[0], 100, 0],
        [requests[0], 101, 1],
      ],
    );
    const [newest] = data;
    assert.deepEqual(Object.keys(newest).sort(), ['created_at', 'dimensions', 'entry_guid', 'filesize', 'position', 'prompt', 'seed', 'thread_guid', 'thread_title', 'thumbnail_url', 'url']);
    assert.equal(newest.thread_guid, thread);
    assert.equal(newest.thread_title, 'a red circle');
    assert.equal(newest.prompt, 'a blue square');
    assert.equal(newest.dimensions, '512x512');
    assert.match(newest.url, /^http:\/\/sdapi\.test\/storage\/stablediffusion_text2img\/.+\.png$/);
    assert.equal(newest.thumbnail_url, `${newest.url}.thumbnail.jpg`);
    assert.ok(newest.filesize > 0);
    // The same images as the response entries carry.
    const entries = (await ctx.request(carol.token, { method: 'GET', url: `/api/v1/threads/${thread}/entries` })).json().data;
    const urls = entries.filter((e: { type: string }) => e.type === 'response').flatMap((e: { content: { url: string }[] }) => e.content.map((c) => c.url));
    assert.deepEqual(data.map((i: { url: string }) => i.url).sort(), urls.sort());
  });

  it('GET /images paginates (per_page, page, meta) and refuses bad pages with 422', async () => {
    const page1 = (await ctx.request(carol.token, { method: 'GET', url: '/api/v1/images?per_page=2' })).json();
    const page2 = (await ctx.request(carol.token, { method: 'GET', url: '/api/v1/images?per_page=2&page=2' })).json();
    assert.deepEqual(page1.meta, { current_page: 1, per_page: 2, total: 3, last_page: 2 });
    assert.deepEqual(page2.meta, { current_page: 2, per_page: 2, total: 3, last_page: 2 });
    assert.equal(page1.data.length, 2);
    assert.equal(page2.data.length, 1);
    assert.equal(page2.data[0].seed, 101);
    const beyond = (await ctx.request(carol.token, { method: 'GET', url: '/api/v1/images?page=9' })).json();
    assert.deepEqual(beyond.data, []);
    for (const q of ['page=0', 'per_page=101', 'page=abc']) {
      const bad = await ctx.request(carol.token, { method: 'GET', url: `/api/v1/images?${q}` });
      assert.equal(bad.statusCode, 422, q);
    }
  });

  it('another account sees none of them; without a token it is 401', async () => {
    const res = await ctx.request(dave.token, { method: 'GET', url: '/api/v1/images' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { data: [], meta: { current_page: 1, per_page: 20, total: 0, last_page: 1 } });
    assert.equal((await ctx.app.inject({ method: 'GET', url: '/api/v1/images' })).statusCode, 401);
    // Nor can it delete one of them.
    assert.equal((await ctx.request(dave.token, { method: 'DELETE', url: `/api/v1/threads/${thread}/entries/${requests[0]}` })).statusCode, 404);
  });

  it('deleting a finished request (by its response guid) removes its response, images and files; deleting the thread removes the rest', async () => {
    const entries = (await ctx.request(carol.token, { method: 'GET', url: `/api/v1/threads/${thread}/entries` })).json().data;
    const response = entries.find((e: { request_guid?: string }) => e.request_guid === requests[0]);
    const files = response.content.map((c: { url: string }) => join(ctx.dataDir, 'storage', new URL(c.url).pathname.replace(/^\/storage\//, '')));
    assert.ok(files.every((f: string) => existsSync(f)));
    const spent = await balance(ctx, carol.token);

    assert.equal((await ctx.request(carol.token, { method: 'DELETE', url: `/api/v1/threads/${thread}/entries/${response.guid}` })).statusCode, 204);
    const left = (await ctx.request(carol.token, { method: 'GET', url: `/api/v1/threads/${thread}/entries` })).json().data;
    assert.ok(!left.some((e: { guid: string; request_guid?: string }) => e.guid === requests[0] || e.request_guid === requests[0]));
    assert.equal(left.length, 2);
    assert.ok(files.every((f: string) => !existsSync(f) && !existsSync(`${f}.thumbnail.jpg`)));
    // Delivered images were paid for: deleting them refunds nothing.
    assert.equal(await balance(ctx, carol.token), spent);
    const images = (await ctx.request(carol.token, { method: 'GET', url: '/api/v1/images' })).json();
    assert.deepEqual(images.data.map((i: { entry_guid: string }) => i.entry_guid), [requests[1]]);

    assert.equal((await ctx.request(carol.token, { method: 'DELETE', url: `/api/v1/threads/${thread}` })).statusCode, 204);
    assert.equal((await ctx.request(carol.token, { method: 'GET', url: '/api/v1/images' })).json().meta.total, 0);
    assert.equal((await ctx.store.db.selectFrom('images').select('id').where('user_id', '=', carol.id).execute()).length, 0);
  });
});
