/**
 * Hostile input against the compatibility surfaces' write routes: every body field of POST /v1/images/generations and
 * POST /sdapi/v1/txt2img (read from the route schemas) with wrong types, huge numbers, NaN/Infinity, long strings and
 * nesting gets a 4xx in the surface's own error shape, never a 5xx or a stack trace, and no credits move.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Txt2ImgRequestSchema } from '../../src/api/compat/a1111.routes.ts';
import { OpenAiImageRequestSchema } from '../../src/api/compat/openai.routes.ts';
import { createApiContext, type ApiContext } from '../helpers/api-context.ts';

const LEAK = /\n\s+at |node_modules|\/work\/|\/home\/|\/tmp\/|file:\/\/|\.[cm]?[jt]s:\d+|SQLITE_|stack/;

function nested(levels: number): Record<string, unknown> {
  let v: Record<string, unknown> = { x: 1 };
  for (let i = 0; i < levels; i++) v = { x: v };
  return v;
}

const HOSTILE: [string, unknown][] = [
  ['an object', { a: 1 }],
  ['deep nesting', nested(60)],
  ['an array', [1, 2]],
  ['2100 chars', 'x'.repeat(2100)],
  ['100k chars', 'y'.repeat(100_000)],
  ['1e308', 1e308],
  ['-1e308', -1e308],
  ['"Infinity"', 'Infinity'],
  ['"NaN"', 'NaN'],
  ['null', null],
  ['true', true],
  ['-1', -1],
  ['empty', ''],
  ['NUL', 'a\u0000b'],
];

describe('compatibility surfaces under hostile input', () => {
  let ctx: ApiContext;
  let token: string;
  before(async () => {
    ctx = await createApiContext({ env: { SDAPI_SYNC_TIMEOUT: '100ms' } });
    token = (await ctx.user('hostile@example.com', 0)).token;
  });
  after(() => ctx.close());

  const cases = [
    { url: '/v1/images/generations', schema: OpenAiImageRequestSchema, base: { prompt: 'a red circle', model: 'sdapi-demo-shapes', size: '64x64' }, shape: (b: any) => typeof b?.error?.message === 'string' },
    { url: '/sdapi/v1/txt2img', schema: Txt2ImgRequestSchema, base: { prompt: 'a red circle', width: 64, height: 64 }, shape: (b: any) => b?.detail !== undefined },
  ];
  for (const c of cases) {
    it(`${c.url}: every field, every hostile value → 4xx in the surface's shape, no credits moved`, async () => {
      const failures: string[] = [];
      for (const field of Object.keys(c.schema.properties)) {
        for (const [label, value] of HOSTILE) {
          const res = await ctx.request(token, { method: 'POST', url: c.url, payload: { ...c.base, [field]: value } });
          const where = `${field} = ${label}: ${res.statusCode} ${res.body.slice(0, 200)}`;
          if (res.statusCode < 400 || res.statusCode >= 500) failures.push(where);
          else if (!c.shape(res.json())) failures.push(`shape: ${where}`);
          if (LEAK.test(res.body)) failures.push(`leak: ${where}`);
        }
      }
      assert.deepEqual(failures, []);
      const account = (await ctx.request(token, { method: 'GET', url: '/api/v1/account' })).json().data;
      assert.equal(account.credits, 0);
      const ledger = (await ctx.request(token, { method: 'GET', url: '/api/v1/account/ledger' })).json().data;
      assert.deepEqual(ledger, []);
    });
  }
});
