import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createApiContext, formBody, multipartBody, TUTORIAL_FORM, TUTORIAL_JSON, type ApiContext } from '../helpers/api-context.ts';

const TUTORIAL_CONTENT = {
  prompts: [
    { text: 'Delorean hacking time', weight: 1 },
    { text: 'Clock', weight: -1 },
  ],
  engine: 'stable-diffusion-xl-1024-v0-9',
  style: 'neon-punk',
  images: 2,
  steps: 45,
  resolution: '1024x1024',
};

describe('POST /threads/{guid}/entry', () => {
  let ctx: ApiContext;
  let user: { id: string; token: string };
  let thread: string;

  before(async () => {
    ctx = await createApiContext();
    user = await ctx.user('entries@example.com', 1_000_000);
    thread = (await ctx.request(user.token, { method: 'POST', url: '/api/v1/threads', payload: { ai_version_code: 'stablediffusion_text2img' } })).json().data.guid;
  });
  after(() => ctx.close());

  function post(payload: unknown, token = user.token, guid = thread) {
    return ctx.request(token, { method: 'POST', url: `/api/v1/threads/${guid}/entry`, payload: payload as Record<string, unknown> });
  }

  function postForm(fields: Record<string, string>) {
    return ctx.request(user.token, {
      method: 'POST',
      url: `/api/v1/threads/${thread}/entry`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: formBody(fields),
    });
  }

  function postMultipart(fields: Record<string, string>) {
    const { payload, contentType } = multipartBody(fields);
    return ctx.request(user.token, { method: 'POST', url: `/api/v1/threads/${thread}/entry`, headers: { 'content-type': contentType }, payload });
  }

  it('the tutorial request gives the tutorial request entry, in all three encodings', async () => {
    for (const send of [() => postForm(TUTORIAL_FORM), () => postMultipart(TUTORIAL_FORM), () => post(TUTORIAL_JSON)]) {
      const res = await send();
      assert.equal(res.statusCode, 201, res.body);
      const { data } = res.json();
      assert.equal(data.thread_guid, thread);
      assert.equal(data.type, 'request');
      assert.equal(data.error, null);
      assert.deepEqual(data.content, TUTORIAL_CONTENT);
      assert.equal(data.waiting_response, true);
      assert.equal(data.credits, 0);
      assert.match(data.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
      assert.equal(data.status, 'queued');
      assert.equal(data.progress, null);
    }
    const entries = (await ctx.request(user.token, { method: 'GET', url: `/api/v1/threads/${thread}/entries` })).json().data;
    assert.equal(entries.length, 3);
  });

  it('optional seed, cfg_scale and sampler are accepted and echoed (Stability sampler names too)', async () => {
    const res = await post({ ...TUTORIAL_JSON, images: 1, seed: 4294967295, cfg_scale: 35, sampler: 'K_EULER' });
    assert.equal(res.statusCode, 201, res.body);
    const { content } = res.json().data;
    assert.equal(content.seed, 4294967295);
    assert.equal(content.cfg_scale, 35);
    assert.equal(content.sampler, 'euler');
    const form = await postForm({ ...TUTORIAL_FORM, seed: '0', cfg_scale: '0', sampler: 'euler_a' });
    assert.equal(form.statusCode, 201, form.body);
    assert.equal(form.json().data.content.seed, 0);
    assert.equal(form.json().data.content.cfg_scale, 0);
  });

  it('style may be absent; weight defaults to 1; the engine v1-0 id and all nine SDXL sizes are accepted', async () => {
    const { style: _style, ...noStyle } = TUTORIAL_JSON;
    const res = await post({ ...noStyle, prompts: [{ text: 'a lighthouse' }] });
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.json().data.content.style, null);
    assert.deepEqual(res.json().data.content.prompts, [{ text: 'a lighthouse', weight: 1 }]);
    for (const resolution of ['1024x1024', '1152x896', '1216x832', '1344x768', '1536x640', '640x1536', '768x1344', '832x1216', '896x1152']) {
      const ok = await post({ ...TUTORIAL_JSON, engine: 'stable-diffusion-xl-1024-v1-0', resolution, images: 1, steps: 10 });
      assert.equal(ok.statusCode, 201, `${resolution}: ${ok.body}`);
    }
  });

  const invalid: [string, Record<string, unknown>, string][] = [
    ['engine missing', { engine: undefined }, 'engine'],
    ['engine unknown', { engine: 'dall-e-3' }, 'engine'],
    ['resolution missing', { resolution: undefined }, 'resolution'],
    ['resolution malformed', { resolution: 'big' }, 'resolution'],
    ['resolution not an SDXL size', { resolution: '512x512' }, 'resolution'],
    ['prompts missing', { prompts: undefined }, 'prompts'],
    ['prompts empty', { prompts: [] }, 'prompts'],
    ['more than 10 prompts', { prompts: Array.from({ length: 11 }, () => ({ text: 'x', weight: 1 })) }, 'prompts'],
    ['prompt text over 2000 chars', { prompts: [{ text: 'x'.repeat(2001), weight: 1 }] }, 'prompts.0.text'],
    ['prompt text missing', { prompts: [{ weight: 1 }] }, 'prompts.0.text'],
    ['prompt text blank', { prompts: [{ text: '   ', weight: 1 }] }, 'prompts.0.text'],
    ['prompt weight not a number', { prompts: [{ text: 'x', weight: 'heavy' }] }, 'prompts.0.weight'],
    ['no positive weight', { prompts: [{ text: 'x', weight: -1 }, { text: 'y', weight: 0 }] }, 'prompts'],
    ['images 0', { images: 0 }, 'images'],
    ['images 11', { images: 11 }, 'images'],
    ['images not an integer', { images: 1.5 }, 'images'],
    ['steps below range', { steps: 9 }, 'steps'],
    ['steps above range', { steps: 151 }, 'steps'],
    ['steps not a number', { steps: 'many' }, 'steps'],
    ['style unknown', { style: 'vaporwave' }, 'style'],
    ['seed negative', { seed: -1 }, 'seed'],
    ['seed above uint32', { seed: 4294967296 }, 'seed'],
    ['cfg_scale above 35', { cfg_scale: 35.5 }, 'cfg_scale'],
    ['cfg_scale negative', { cfg_scale: -1 }, 'cfg_scale'],
    ['sampler unknown', { sampler: 'K_HEUN_PLUS' }, 'sampler'],
    ['type not request', { type: 'response' }, 'type'],
  ];

  for (const [name, patch, field] of invalid) {
    it(`422 naming "${field}" when ${name} (JSON, form and multipart alike)`, async () => {
      const body: Record<string, unknown> = { ...TUTORIAL_JSON, ...patch };
      for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
      const before = (await ctx.request(user.token, { method: 'GET', url: '/api/v1/account' })).json().data.credits;
      const json = await post(body);
      assert.equal(json.statusCode, 422, json.body);
      assert.ok(json.json().errors[field], `expected errors.${field} in ${json.body}`);
      assert.equal(typeof json.json().message, 'string');
      const form = toForm(body);
      if (form) {
        for (const res of [await postForm(form), await postMultipart(form)]) {
          assert.equal(res.statusCode, 422, res.body);
          assert.ok(res.json().errors[field], `form: expected errors.${field} in ${res.body}`);
        }
      }
      assert.equal((await ctx.request(user.token, { method: 'GET', url: '/api/v1/account' })).json().data.credits, before);
    });
  }

  it('names every bad field at once: shape errors and engine rules in one 422, in all three encodings', async () => {
    const body = { engine: 'nope', resolution: '1x1', prompts: [{ text: 'x', weight: -1 }], images: 99, steps: 1, style: 'zzz', cfg_scale: 99 };
    const res = await post(body);
    assert.equal(res.statusCode, 422);
    const expected = ['engine', 'resolution', 'prompts', 'images', 'style', 'cfg_scale'];
    assert.deepEqual(Object.keys(res.json().errors).sort(), [...expected].sort(), res.body);
    const form = toForm(body)!;
    for (const encoded of [await postForm(form), await postMultipart(form)]) {
      assert.equal(encoded.statusCode, 422);
      assert.deepEqual(Object.keys(encoded.json().errors).sort(), [...expected].sort(), encoded.body);
    }
    // A known engine: its step range and resolutions are checked in the same pass as a bad image count.
    const ruled = await post({ ...TUTORIAL_JSON, images: 0, steps: 151, resolution: '512x512', sampler: 'warp' });
    assert.equal(ruled.statusCode, 422);
    assert.deepEqual(Object.keys(ruled.json().errors).sort(), ['images', 'resolution', 'sampler', 'steps']);
    assert.match(ruled.json().errors.steps[0], /between 10 and 150/);
  });

  it('malformed bodies are 4xx JSON, never 500', async () => {
    const cases = [
      { headers: { 'content-type': 'application/json' }, payload: '{"engine": ' },
      { headers: { 'content-type': 'application/json' }, payload: '[1,2,3]' },
      { headers: { 'content-type': 'application/json' }, payload: '"text"' },
      { headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'prompts=abc&prompts[0]=x&%%%' },
      { headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'prompts[999][text]=x&prompts[999][weight]=1&engine=stable-diffusion-xl-1024-v0-9&resolution=1024x1024' },
      { headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: '__proto__[x]=1&constructor[prototype][y]=2' },
      { headers: { 'content-type': 'multipart/form-data; boundary=abc' }, payload: '--abc\r\nbroken' },
    ];
    for (const c of cases) {
      const res = await ctx.request(user.token, { method: 'POST', url: `/api/v1/threads/${thread}/entry`, ...c });
      assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${res.statusCode} for ${c.payload}: ${res.body}`);
      assert.equal(typeof res.json().message, 'string');
      assert.doesNotMatch(res.body, /at .*\.ts:\d+/);
    }
  });

  it('a multipart file part is refused with 422', async () => {
    const boundary = 'fileBOUNDARY';
    const payload =
      `--${boundary}\r\nContent-Disposition: form-data; name="engine"\r\n\r\nstable-diffusion-xl-1024-v0-9\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="init_image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\nPNGDATA\r\n--${boundary}--\r\n`;
    const res = await ctx.request(user.token, { method: 'POST', url: `/api/v1/threads/${thread}/entry`, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, payload });
    assert.equal(res.statusCode, 422, res.body);
  });

  it('415 for an unsupported content type, 413 for a body over the limit', async () => {
    const res = await ctx.request(user.token, { method: 'POST', url: `/api/v1/threads/${thread}/entry`, headers: { 'content-type': 'text/csv' }, payload: 'a,b' });
    assert.equal(res.statusCode, 415);
    assert.equal(typeof res.json().message, 'string');
    const big = 'x'.repeat(ctx.config.imageBodyLimit + 10); // the request routes take images: their limit is SDAPI_IMAGE_BODY_LIMIT
    for (const send of [
      () => post({ ...TUTORIAL_JSON, prompts: [{ text: big, weight: 1 }] }),
      () => postForm({ ...TUTORIAL_FORM, 'prompts[0][text]': big }),
      () => postMultipart({ ...TUTORIAL_FORM, 'prompts[0][text]': big }),
    ]) {
      const tooBig = await send();
      assert.equal(tooBig.statusCode, 413, tooBig.body.slice(0, 200));
      assert.equal(tooBig.json().code, 'payload_too_large');
    }
  });

  it('unknown routes are a JSON 404', async () => {
    for (const url of ['/api/v1/nothing', '/api/v2/threads', '/nope']) {
      const res = await ctx.request(user.token, { method: 'GET', url });
      assert.equal(res.statusCode, 404);
      assert.equal(typeof res.json().message, 'string');
    }
  });
});

/** Flattens a JSON body to bracket keys, or null when it holds something a form cannot express. */
function toForm(body: Record<string, unknown>): Record<string, string> | null {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(body)) {
    if (Array.isArray(v)) {
      if (v.length === 0) return null;
      v.forEach((item, i) => {
        for (const [ik, iv] of Object.entries(item as Record<string, unknown>)) out[`${k}[${i}][${ik}]`] = String(iv);
      });
    } else out[k] = String(v);
  }
  return out;
}
