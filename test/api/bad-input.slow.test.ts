/**
 * Hostile input against every route the app registers: the routes are enumerated from the app itself
 * (an onRoute hook), and the body fields to attack are read from each route's own schema, so a new route
 * or field is probed without touching this file. The rule checked everywhere: bad input gets a clear 4xx
 * (never a 5xx), a JSON `{message}` body without a stack trace or internal path, and a refused write leaves
 * every table, every balance and the storage folder exactly as they were.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { API_PREFIX } from '../../src/api/app.ts';
import { SESSION_COOKIE } from '../../src/api/session-auth.ts';
import { createApiContext, multipartBody, type ApiContext } from '../helpers/api-context.ts';

interface Route {
  method: string;
  url: string;
  schema?: Record<string, any>;
  public: boolean;
}

type Auth = 'none' | 'bearer' | 'cookie';
type Json = Record<string, any>;

/** A request cheap enough to send hundreds of (512×512, 10 steps, 1 image: 1 credit). */
const ENTRY = { type: 'request', engine: 'stable-diffusion-v1-6', resolution: '512x512', prompts: [{ text: 'a red bicycle', weight: 1 }], images: 1, steps: 10 };
const PASSWORD = 'correct horse battery';

/** Valid bodies for the known write routes; a route not listed here gets one built from its schema. */
const BASE_BODIES: Record<string, Json> = {
  [`POST ${API_PREFIX}/threads`]: { ai_version_code: 'stablediffusion_text2img' },
  [`POST ${API_PREFIX}/threads/:guid/entry`]: ENTRY,
  [`POST ${API_PREFIX}/quote`]: ENTRY,
  [`PATCH ${API_PREFIX}/threads/:guid`]: { title: 'fuzz' },
  [`POST ${API_PREFIX}/auth/register`]: { email: 'fuzz-register@example.com', password: PASSWORD },
  [`POST ${API_PREFIX}/auth/login`]: { email: 'cookie@example.com', password: PASSWORD },
  [`POST ${API_PREFIX}/applications`]: { name: 'fuzz' },
  [`PATCH ${API_PREFIX}/applications/:id`]: { name: 'fuzz' },
  [`POST ${API_PREFIX}/applications/:id/tokens`]: { name: 'fuzz' },
};

const LEAK = /\n\s+at |\bat (?:async )?[\w$.<>[\]]+ \(|node_modules|\/work\/|\/home\/|\/tmp\/|file:\/\/|\.[cm]?[jt]s:\d+|Error: |SQLITE_|syntax error at|violates|stack/;

function deep(levels: number): Json {
  let v: Json = { x: 1 };
  for (let i = 0; i < levels; i++) v = { x: v };
  return v;
}

/** Values no field of any type may accept: each must be refused with a 4xx. */
function alwaysInvalid(schema: Json): [string, unknown][] {
  const out: [string, unknown][] = [
    ['an object', { a: 1 }],
    ['a deeply nested object', deep(60)],
    ['two-element array', [1, 2]],
  ];
  const type = schema.type;
  if (type === 'string' && !schema.enum) {
    out.push(['2100 chars', 'x'.repeat(2100)], ['1100 emoji', '😀'.repeat(1100)], ['100k chars', 'y'.repeat(100_000)]);
  }
  if (type === 'integer' || type === 'number') {
    out.push(['1e308', 1e308], ['-1e308', -1e308], ['"Infinity"', 'Infinity'], ['"-Infinity"', '-Infinity'], ['"NaN"', 'NaN'], ['"1e309"', '1e309'], ['"abc"', 'abc']);
  }
  if (type === 'integer') out.push(['2^53+1', 2 ** 53 + 1], ['a float', 1.5], ['"1.5"', '1.5']);
  if (type === 'array') {
    out.push(['10k items', Array.from({ length: 10_000 }, () => sample(schema.items ?? {}))], ['a string', 'x'.repeat(2100)], ['[null, null]', [null, null]]);
  }
  if (type === 'object') out.push(['a long string', 'x'.repeat(2100)], ['a number', 12]);
  return out;
}

/** Values that may be valid for some field (coercion, emptiness, odd characters): never a 5xx, and a refusal writes nothing. */
const MAYBE_INVALID: [string, unknown][] = [
  ['null', null],
  ['true', true],
  ['false', false],
  ['[]', []],
  ['["x"]', ['x']],
  ['[{}]', [{}]],
  ['""', ''],
  ['"   "', '   '],
  ['-1', -1],
  ['0', 0],
  ['a big int', 4294967296],
  ['emoji', '🚲🚲 é ü 中文'],
  ['NUL byte', 'a\u0000b'],
  ['control chars', '\u0001\u001b[31m\r\n'],
  ['lone surrogate', 'x\ud800y'],
  ['RTL override', '\u202egnp.exe'],
];

function sample(schema: Json): unknown {
  if (Array.isArray(schema.examples) && schema.examples.length > 0) return schema.examples[0];
  if (Array.isArray(schema.enum)) return schema.enum[0];
  if (schema.default !== undefined) return schema.default;
  switch (schema.type) {
    case 'string':
      return 'x'.repeat(Math.max(1, schema.minLength ?? 1));
    case 'integer':
    case 'number':
      return schema.minimum ?? 1;
    case 'boolean':
      return true;
    case 'array':
      return Array.from({ length: Math.max(1, schema.minItems ?? 1) }, () => sample(schema.items ?? {}));
    case 'object': {
      const out: Json = {};
      for (const [k, v] of Object.entries<Json>(schema.properties ?? {})) if ((schema.required ?? []).includes(k)) out[k] = sample(v);
      return out;
    }
    default:
      return 'x';
  }
}

/** Every field path of a body schema, nested object and array-item fields included: [path, schema]. */
function fieldPaths(schema: Json, prefix: (string | number)[] = []): [(string | number)[], Json][] {
  const out: [(string | number)[], Json][] = [];
  for (const [k, v] of Object.entries<Json>(schema.properties ?? {})) {
    const path = [...prefix, k];
    out.push([path, v]);
    if (v.type === 'object') out.push(...fieldPaths(v, path));
    if (v.type === 'array' && v.items?.type === 'object') out.push(...fieldPaths(v.items, [...path, 0]));
  }
  return out;
}

function withField(base: Json, path: (string | number)[], value: unknown): Json {
  const copy = structuredClone(base);
  let node: any = copy;
  for (const key of path.slice(0, -1)) {
    if (node[key] === undefined || node[key] === null || typeof node[key] !== 'object') node[key] = typeof key === 'number' ? [] : {};
    node = node[key];
  }
  node[path[path.length - 1]] = value;
  return copy;
}

/** Flattens a JSON body to qs bracket keys (what PHP and `requests` send). */
function toFormPairs(value: unknown, key = ''): [string, string][] {
  if (value === null || value === undefined) return [[key, '']];
  if (Array.isArray(value)) return value.flatMap((v, i) => toFormPairs(v, `${key}[${i}]`));
  if (typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => toFormPairs(v, key ? `${key}[${k}]` : k));
  return [[key, String(value)]];
}

function formEncode(pairs: [string, string][]): string {
  // toWellFormed: a lone surrogate cannot be percent-encoded (a form client would send U+FFFD).
  const enc = (x: string) => encodeURIComponent((x as string & { toWellFormed(): string }).toWellFormed());
  return pairs.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&');
}

describe('bad input on every route', () => {
  let ctx: ApiContext;
  const routes: Route[] = [];
  let alice: { id: string; token: string };
  let cookie: { id: string; secret: string; csrf: string };
  let thread: string;
  let appId: string;
  let tokenId: string;
  let storedKey: string;
  const fixtureApps = new Set<string>();
  const failures: string[] = [];

  before(async () => {
    ctx = await createApiContext({
      sessions: true,
      onRoute: (r) => {
        const methods = Array.isArray(r.method) ? r.method : [r.method];
        for (const method of methods) {
          routes.push({ method: String(method).toUpperCase(), url: r.url ?? r.path, schema: r.schema as Json | undefined, public: Boolean(r.config?.public) });
        }
      },
    });
    alice = await ctx.user('alice@example.com', 100_000);
    const reg = await ctx.app.inject({ method: 'POST', url: `${API_PREFIX}/auth/register`, payload: { email: 'cookie@example.com', password: PASSWORD } });
    assert.equal(reg.statusCode, 201, reg.body);
    const secret = decodeURIComponent(String(reg.headers['set-cookie']).split(';')[0].split('=')[1]);
    cookie = { id: reg.json().data.user.id, secret, csrf: reg.json().data.csrf_token };
    await ctx.services.credits.grant(cookie.id, 100_000, 'test');
    thread = (await send('bearer', { method: 'POST', url: `${API_PREFIX}/threads`, payload: { ai_version_code: 'stablediffusion_text2img' } })).json().data.guid;
    appId = (await send('bearer', { method: 'POST', url: `${API_PREFIX}/applications`, payload: { name: 'probe' } })).json().data.id;
    tokenId = (await send('bearer', { method: 'POST', url: `${API_PREFIX}/applications/${appId}/tokens`, payload: { name: 'probe' } })).json().data.id;
    // The applications of the probe's own tokens and the `probe` fixture: never deleted by makeRoom().
    for (const userId of [alice.id, cookie.id]) for (const a of await ctx.services.applications.list(userId)) fixtureApps.add(a.id);
    storedKey = `stablediffusion_text2img/${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}.png`;
    await ctx.runtime.storage.put(storedKey, new Uint8Array([0x89, 0x50, 0x4e, 0x47]));
  });
  after(() => ctx.close());

  async function send(auth: Auth, options: InjectOptions): Promise<LightMyRequestResponse> {
    const headers: Record<string, string> = { accept: 'application/json', ...(options.headers as Record<string, string>) };
    if (auth === 'bearer') headers.authorization = `Bearer ${alice.token}`;
    if (auth === 'cookie') {
      headers.cookie = `${SESSION_COOKIE}=${encodeURIComponent(cookie.secret)}`;
      headers['x-csrf-token'] = cookie.csrf;
    }
    const res = await ctx.app.inject({ ...options, headers });
    // A cookie logout ends the probe session: open a fresh one so the later cookie probes stay authenticated.
    if (auth === 'cookie' && String(options.url).includes('/auth/logout') && res.statusCode < 400) {
      const session = await ctx.services.sessions.create(cookie.id);
      cookie = { ...cookie, secret: session.secret, csrf: session.csrfToken };
    }
    return res;
  }

  async function snapshot(): Promise<string> {
    const db = ctx.store.db;
    const tables = ['users', 'applications', 'api_tokens', 'sessions', 'threads', 'entries', 'jobs', 'credit_ledger'] as const;
    const counts: Record<string, unknown> = {};
    for (const t of tables) counts[t] = Number((await db.selectFrom(t).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
    const users = await db.selectFrom('users').select(['id', 'email', 'credits']).orderBy('id').execute();
    counts.balances = users.map((u) => `${u.email}:${Number(u.credits)}`).join(',');
    const apps = await db.selectFrom('applications').select(['id', 'name']).orderBy('id').execute();
    counts.apps = apps.map((a) => `${a.id}:${a.name}`).join(',');
    const tokens = await db.selectFrom('api_tokens').select(['id', 'name', 'revoked_at']).orderBy('id').execute();
    counts.tokens = tokens.map((t) => `${t.id}:${t.name}:${t.revoked_at}`).join(',');
    counts.files = (await listFiles(join(ctx.dataDir, 'storage'))).join(',');
    return JSON.stringify(counts);
  }

  async function listFiles(dir: string): Promise<string[]> {
    const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
    return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath ?? (e as any).path, e.name)).sort();
  }

  /** Checks one answer; records a failure (all are reported together at the end of each test). */
  function check(label: string, res: LightMyRequestResponse, expect: 'reject' | 'any', jsonBody = true): void {
    const where = `${label} → ${res.statusCode} ${res.body.slice(0, 200)}`;
    if (res.statusCode >= 500) return void failures.push(`5xx: ${where}`);
    if (expect === 'reject' && (res.statusCode < 400 || res.statusCode >= 500)) return void failures.push(`not refused: ${where}`);
    if (LEAK.test(res.body) && res.statusCode >= 400) return void failures.push(`leak: ${where}`);
    if (res.statusCode >= 400 && jsonBody) {
      let body: unknown;
      try {
        body = res.json();
      } catch {
        return void failures.push(`not JSON: ${where}`);
      }
      if (typeof (body as Json)?.message !== 'string' || (body as Json).message.length === 0 || (body as Json).message.length > 2000) failures.push(`no {message}: ${where}`);
      if (res.statusCode === 422 && typeof (body as Json).errors !== 'object') failures.push(`422 without errors: ${where}`);
    }
  }

  /** Sends a write and checks it: a refusal must leave the store and the storage folder untouched. */
  async function probeWrite(label: string, auth: Auth, options: InjectOptions, expect: 'reject' | 'any'): Promise<LightMyRequestResponse> {
    const before = await snapshot();
    const res = await send(auth, options);
    check(label, res, expect);
    if (res.statusCode >= 400) {
      const afterState = await snapshot();
      if (afterState !== before) failures.push(`state changed by a refused write: ${label} → ${res.statusCode}\n  before ${before}\n  after  ${afterState}`);
    }
    return res;
  }

  function report(): void {
    const found = failures.splice(0);
    assert.deepEqual(found, [], `${found.length} problem(s):\n${found.join('\n')}`);
  }

  function concrete(url: string): string {
    return url
      .replace(':guid', thread)
      .replace(':tokenId', tokenId)
      .replace(':id', appId)
      .replace(':name', 'preact.mjs')
      .replace(/:\w+/g, 'x')
      .replace('/storage/*', `/storage/${storedKey}`)
      .replace('/app/*', '/app/app.css')
      .replace('*', 'index.html');
  }

  const isWrite = (m: string) => !['GET', 'HEAD', 'OPTIONS'].includes(m);
  const authsFor = (r: Route): Auth[] => (r.url.startsWith(`${API_PREFIX}/applications`) || r.url.startsWith(`${API_PREFIX}/account`) || r.url.startsWith(`${API_PREFIX}/auth`) ? ['bearer', 'cookie'] : ['bearer']);
  const apiRoutes = () => routes.filter((r) => r.url.startsWith(API_PREFIX));
  /**
   * Accounts hold at most 20 applications, and the probes create many: delete every application but the fixture,
   * so a valid write still has room and answers 201 rather than the limit's 422.
   */
  async function makeRoom(): Promise<void> {
    for (const userId of [alice.id, cookie.id]) {
      for (const a of await ctx.services.applications.list(userId)) if (!fixtureApps.has(a.id)) await ctx.services.applications.delete(userId, a.id);
    }
  }

  /** Deleting the fixtures would turn later probes into 404s: DELETE routes get their params from throwaway objects. */
  async function writeUrl(r: Route): Promise<string> {
    await makeRoom();
    if (r.method !== 'DELETE') return concrete(r.url);
    const t = (await send('bearer', { method: 'POST', url: `${API_PREFIX}/threads`, payload: { ai_version_code: 'stablediffusion_text2img' } })).json().data.guid;
    const a = (await send('bearer', { method: 'POST', url: `${API_PREFIX}/applications`, payload: { name: 'throwaway' } })).json().data.id;
    const k = (await send('bearer', { method: 'POST', url: `${API_PREFIX}/applications/${a}/tokens`, payload: { name: 'throwaway' } })).json().data.id;
    return r.url.replace(':guid', t).replace(':tokenId', k).replace(':id', a);
  }

  it('enumerates the routes from the app, and every API route has a schema for what it reads', () => {
    const keys = new Set(routes.map((r) => `${r.method} ${r.url}`));
    const mustHave = [
      `POST ${API_PREFIX}/threads/:guid/entry`, `GET ${API_PREFIX}/threads`, 'GET /storage/*', 'GET /app/*', `DELETE ${API_PREFIX}/applications/:id/tokens/:tokenId`,
      `GET ${API_PREFIX}/auth/signup`, 'GET /healthz', 'GET /readyz', 'GET /metrics',
    ];
    for (const must of mustHave) {
      assert.ok(keys.has(must), `${must} in ${[...keys].join(', ')}`);
    }
    for (const r of apiRoutes()) {
      if (r.schema?.hide) continue;
      const params = [...r.url.matchAll(/:(\w+)/g)].map((m) => m[1]);
      for (const p of params) assert.ok(r.schema?.params?.properties?.[p], `${r.method} ${r.url}: path param ${p} has a schema`);
      if (['POST', 'PATCH', 'PUT'].includes(r.method) && r.schema?.body) assert.equal(r.schema.body.type, 'object', `${r.method} ${r.url} body is an object`);
    }
  });

  it('every string, array and number a route reads has a limit (maxLength, maxItems, minimum/maximum)', () => {
    const missing: string[] = [];
    const walk = (where: string, s: Json | undefined) => {
      if (!s || typeof s !== 'object') return;
      if (s.type === 'string' && !s.enum && s.maxLength === undefined && s.format !== 'uuid') missing.push(`${where}: maxLength`);
      if (s.type === 'array' && s.maxItems === undefined) missing.push(`${where}: maxItems`);
      if ((s.type === 'integer' || s.type === 'number') && (s.minimum === undefined || s.maximum === undefined)) missing.push(`${where}: minimum/maximum`);
      for (const [k, v] of Object.entries<Json>(s.properties ?? {})) walk(`${where}.${k}`, v);
      if (s.items) walk(`${where}[]`, s.items);
    };
    for (const r of routes) for (const part of ['body', 'querystring', 'params', 'headers'] as const) walk(`${r.method} ${r.url} ${part}`, r.schema?.[part]);
    assert.deepEqual(missing, []);
  });

  it('no credentials: every API route answers 401 (or its public answer), never 5xx, whatever the body', async () => {
    for (const r of apiRoutes()) {
      const url = concrete(r.url);
      const bodies: InjectOptions[] = isWrite(r.method)
        ? [{ payload: {} }, { payload: { a: deep(60) } }, { headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'a[b][c][d][e][f][g]=1&__proto__[x]=1' }]
        : [{}];
      for (const b of bodies) {
        for (const headers of [{}, { authorization: 'Bearer ' + 'z'.repeat(5000) }, { authorization: 'Basic Zm9vOmJhcg==' }, { cookie: `${SESSION_COOKIE}=%E0%A4%A; x=${'y'.repeat(3000)}` }]) {
          const options = { method: r.method as InjectOptions['method'], url, ...b, headers: { ...(b.headers as Json), ...headers } };
          const res = isWrite(r.method) ? await probeWrite(`anon ${r.method} ${url} ${JSON.stringify(headers).slice(0, 40)}`, 'none', options, 'any') : await send('none', options);
          check(`anon ${r.method} ${url}`, res, r.public ? 'any' : 'reject', r.method !== 'HEAD');
          // A body that cannot even be decoded may be refused (400/422) before the credentials are looked at.
          if (!r.public && res.statusCode !== 401 && !([400, 422].includes(res.statusCode) && isWrite(r.method) && b.headers)) failures.push(`anon ${r.method} ${url}: ${res.statusCode}, expected 401`);
        }
      }
    }
    report();
  });

  it('every body field of every write route: wrong types, null, arrays, huge numbers, NaN/Infinity, long and odd strings (JSON and form)', async () => {
    const writes = apiRoutes().filter((r) => ['POST', 'PATCH', 'PUT'].includes(r.method) && r.schema?.body);
    assert.ok(writes.length >= 7, `write routes with a body: ${writes.map((r) => r.url).join(', ')}`);
    for (const r of writes) {
      const base = BASE_BODIES[`${r.method} ${r.url}`] ?? (sample(r.schema!.body) as Json);
      for (const auth of authsFor(r)) {
        const url = await writeUrl(r);
        for (const [path, schema] of fieldPaths(r.schema!.body)) {
          await makeRoom();
          const cases: [string, unknown, 'reject' | 'any'][] = [
            ...alwaysInvalid(schema).map(([n, v]) => [n, v, 'reject'] as [string, unknown, 'reject']),
            ...MAYBE_INVALID.map(([n, v]) => [n, v, 'any'] as [string, unknown, 'any']),
          ];
          for (const [name, value, expect] of cases) {
            const body = withField(base, path, value);
            const label = `${auth} ${r.method} ${r.url} ${path.join('.')}=${name}`;
            await probeWrite(`${label} (JSON)`, auth, { method: r.method as 'POST', url, payload: body }, expect);
            if (name === '100k chars' || name === '10k items' || name === 'a deeply nested object') continue;
            const form = formEncode(toFormPairs(body));
            await probeWrite(`${label} (form)`, auth, { method: r.method as 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: form }, expect === 'reject' && typeof value !== 'object' ? 'reject' : 'any');
          }
        }
      }
    }
    report();
  });

  it('whole-body abuse on every write route: malformed JSON, wrong shapes, wrong content types, charsets, over the limit', async () => {
    // Over every route's limit: the request routes take images (SDAPI_IMAGE_BODY_LIMIT), the others SDAPI_BODY_LIMIT.
    const big = 'x'.repeat(Math.max(ctx.config.bodyLimit, ctx.config.imageBodyLimit) + 100);
    const cases: [string, InjectOptions['headers'], string | Buffer][] = [
      ['malformed JSON', { 'content-type': 'application/json' }, '{"name": '],
      ['JSON null', { 'content-type': 'application/json' }, 'null'],
      ['JSON array', { 'content-type': 'application/json' }, '[1,2,3]'],
      ['JSON string', { 'content-type': 'application/json' }, '"text"'],
      ['JSON number', { 'content-type': 'application/json' }, '1e999'],
      ['empty JSON', { 'content-type': 'application/json' }, ''],
      ['__proto__ JSON', { 'content-type': 'application/json' }, '{"__proto__": {"admin": true}, "constructor": {"prototype": {"x": 1}}}'],
      ['deep JSON (10k)', { 'content-type': 'application/json' }, '['.repeat(10_000) + ']'.repeat(10_000)],
      ['deep JSON object (5k)', { 'content-type': 'application/json' }, '{"a":'.repeat(5000) + '1' + '}'.repeat(5000)],
      ['duplicate JSON keys', { 'content-type': 'application/json' }, '{"name": "a", "name": {"x": 1}}'],
      ['BOM JSON', { 'content-type': 'application/json' }, '\ufeff{"name": "a"}'],
      ['invalid UTF-8 JSON', { 'content-type': 'application/json' }, Buffer.from([0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])],
      ['JSON utf-16 charset', { 'content-type': 'application/json; charset=utf-16' }, '{"name": "a"}'],
      ['JSON weird charset', { 'content-type': 'application/json; charset=klingon' }, '{"name": "a"}'],
      ['JSON over the limit', { 'content-type': 'application/json' }, JSON.stringify({ name: big })],
      ['form over the limit', { 'content-type': 'application/x-www-form-urlencoded' }, `name=${big}`],
      ['form latin1 charset', { 'content-type': 'application/x-www-form-urlencoded; charset=iso-8859-1' }, 'name=%E9t%E9'],
      ['form broken escapes', { 'content-type': 'application/x-www-form-urlencoded' }, 'name=%E0%A4%A&x=%%%&%00=%00'],
      ['form huge index', { 'content-type': 'application/x-www-form-urlencoded' }, 'prompts[999999][text]=x&prompts[999999][weight]=1&name=a'],
      ['form empty brackets', { 'content-type': 'application/x-www-form-urlencoded' }, 'prompts[][text]=x&prompts[][weight]=1&name[]=a'],
      ['form nested scalar', { 'content-type': 'application/x-www-form-urlencoded' }, 'prompts[0][text][x]=y&name[x]=y'],
      ['form __proto__', { 'content-type': 'application/x-www-form-urlencoded' }, '__proto__[x]=1&__proto__[admin]=true&name=a'],
      ['form constructor.prototype', { 'content-type': 'application/x-www-form-urlencoded' }, 'constructor[prototype][x]=1&name=a'],
      ['form 10k parameters', { 'content-type': 'application/x-www-form-urlencoded' }, Array.from({ length: 10_000 }, (_, i) => `k${i}=1`).join('&')],
      ['form depth 50', { 'content-type': 'application/x-www-form-urlencoded' }, 'name' + '[a]'.repeat(50) + '=1'],
      ['form array 60', { 'content-type': 'application/x-www-form-urlencoded' }, Array.from({ length: 60 }, (_, i) => `prompts[${i}][text]=x`).join('&')],
      ['form dotted keys', { 'content-type': 'application/x-www-form-urlencoded' }, 'prompts.0.text=x&name.x=1'],
      ['text/plain', { 'content-type': 'text/plain' }, 'name=a'],
      ['application/xml', { 'content-type': 'application/xml' }, '<name>a</name>'],
      ['no content type with body', {}, 'name=a'],
      ['garbage content type', { 'content-type': ';;;/=' }, 'name=a'],
      ['octet-stream', { 'content-type': 'application/octet-stream' }, Buffer.alloc(64, 1)],
      ['multipart without boundary', { 'content-type': 'multipart/form-data' }, 'x'],
      ['multipart broken', { 'content-type': 'multipart/form-data; boundary=abc' }, '--abc\r\nbroken'],
      ['multipart with a file', { 'content-type': 'multipart/form-data; boundary=b' }, '--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nx\r\n--b\r\nContent-Disposition: form-data; name="f"; filename="a.png"\r\nContent-Type: image/png\r\n\r\nPNG\r\n--b--\r\n'],
      ['multipart 1000 fields', { 'content-type': 'multipart/form-data; boundary=----sdapi-test-boundary' }, multipartBody(Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, '1']))).payload],
      ['multipart huge field', { 'content-type': 'multipart/form-data; boundary=----sdapi-test-boundary' }, multipartBody({ name: big }).payload],
      ['multipart huge field name', { 'content-type': 'multipart/form-data; boundary=----sdapi-test-boundary' }, multipartBody({ ['n'.repeat(5000)]: 'x' }).payload],
      ['multipart qs abuse', { 'content-type': 'multipart/form-data; boundary=----sdapi-test-boundary' }, multipartBody({ 'prompts[999999][text]': 'x', '__proto__[x]': '1', ['a' + '[b]'.repeat(50)]: '1' }).payload],
    ];
    for (const r of apiRoutes().filter((x) => isWrite(x.method))) {
      for (const auth of authsFor(r)) {
        const url = await writeUrl(r);
        for (const [name, headers, payload] of cases) {
          const res = await probeWrite(`${auth} ${r.method} ${r.url} ${name}`, auth, { method: r.method as 'POST', url, headers, payload }, 'any');
          // Bodies the route cannot have meant: only a route without a body schema (logout, DELETE) may ignore them.
          if (r.schema?.body && res.statusCode < 400 && !['BOM JSON', 'form latin1 charset', 'form broken escapes', 'form __proto__', 'form constructor.prototype', 'duplicate JSON keys', 'form dotted keys', 'form huge index', 'form empty brackets', 'deep JSON object (5k)', 'multipart qs abuse', 'form nested scalar', 'multipart huge field name'].includes(name)) {
            failures.push(`accepted: ${auth} ${r.method} ${r.url} ${name} → ${res.statusCode}`);
          }
          if (/over the limit|huge field$/.test(name) && res.statusCode !== 413) failures.push(`${name}: ${r.method} ${r.url} → ${res.statusCode}, expected 413`);
        }
      }
    }
    report();
  });

  it('path params: invalid UUIDs and ids, traversal, encodings, NUL, over-long values', async () => {
    const bad = ['x', 'not-a-uuid', '00000000-0000-0000-0000-000000000000', thread.toUpperCase(), `${thread}x`, ' ' + thread, '%00', 'a%00b', '..', '..%2f..%2fetc%2fpasswd', '%252e%252e', '%E0%A4%A', '%', '😀', '%F0%9F%98%80', 'a'.repeat(101), 'b'.repeat(5000), "'; DROP TABLE threads; --", '1 OR 1=1', '${jndi:x}', '{{7*7}}', '%2F', '\\..\\'];
    for (const r of apiRoutes()) {
      const params = [...r.url.matchAll(/:(\w+)/g)].map((m) => m[1]);
      for (const param of params) {
        for (const auth of authsFor(r)) {
          for (const value of bad) {
            const url = r.url.replace(`:${param}`, value.startsWith('%') || value.includes('%') ? value : encodeURIComponent(value)).replace(/:guid|:id|:tokenId/g, (m) => concrete(m));
            const base = BASE_BODIES[`${r.method} ${r.url}`];
            const options: InjectOptions = { method: r.method as 'GET', url, ...(base ? { payload: base } : {}) };
            const label = `${auth} ${r.method} ${r.url} ${param}=${value.slice(0, 30)}`;
            const res = isWrite(r.method) ? await probeWrite(label, auth, options, 'reject') : await send(auth, options);
            check(label, res, 'reject', r.method !== 'HEAD');
          }
        }
      }
    }
    report();
  });

  it('query strings: bad pagination, unknown and repeated params, huge and odd values', async () => {
    const queries = [
      'page=-1', 'page=0', 'page=abc', 'page=1.5', 'page=1e9', 'page=1e300', 'page=99999999999999999999', 'page=Infinity', 'page=NaN', 'page=', 'page=%00',
      'per_page=0', 'per_page=-5', 'per_page=1e9', 'per_page=201', 'per_page=abc', 'per_page=2.5', 'per_page=Infinity',
      'page=1&page=2', 'page=1000000&per_page=100', 'page=2147483648', 'page=9007199254740993',
    ];
    const lenient = ['unknown=1', 'unknown=' + 'x'.repeat(10_000), Array.from({ length: 2000 }, (_, i) => `k${i}=${i}`).join('&'), 'page[]=1', 'page[a]=1', '__proto__[x]=1', 'constructor[prototype][x]=1', 'a[b][c][d][e][f][g][h]=1', '%E0%A4%A=%', '&&&==&=', 'x=😀'];
    for (const r of routes.filter((x) => x.method === 'GET')) {
      const url = concrete(r.url);
      const paged = Boolean(r.schema?.querystring?.properties?.page);
      const overMax = `per_page=${Number(r.schema?.querystring?.properties?.per_page?.maximum ?? 100) + 1}`;
      for (const auth of r.url.startsWith(API_PREFIX) ? authsFor(r) : (['none'] as Auth[])) {
        for (const q of paged ? [...queries, overMax, ...lenient] : lenient) {
          const res = await send(auth, { method: 'GET', url: `${url}?${q}` });
          const mustRefuse = paged && (queries.includes(q) || q === overMax) && !['page=1000000&per_page=100'].includes(q);
          check(`${auth} GET ${url}?${q.slice(0, 60)}`, res, mustRefuse ? 'reject' : 'any', r.url.startsWith(API_PREFIX) || r.url.startsWith('/storage'));
          if (paged && q === 'page=1000000&per_page=100' && res.statusCode !== 200) failures.push(`far page: ${res.statusCode} ${res.body.slice(0, 200)}`);
        }
      }
    }
    report();
  });

  it('storage and the web UI never serve outside their folder: traversal, encodings, backslashes, NUL', async () => {
    const attacks = [
      '../package.json', '..%2fpackage.json', '..%2F..%2F..%2Fetc%2Fpasswd', '%2e%2e%2f%2e%2e%2fetc%2fpasswd', '%252e%252e%252fpackage.json', '..%252f..%252fetc%252fpasswd',
      '..\\..\\package.json', '..%5c..%5cpackage.json', '%c0%ae%c0%ae/%c0%ae%c0%aepackage.json', 'x.png%00.png', 'x%00', '%00', '.env', '.git/config', '/etc/passwd', '%2fetc%2fpasswd',
      `${'a/'.repeat(300)}x.png`, `${'x'.repeat(5000)}.png`, 'stablediffusion_text2img/../../sdapi.db', 'stablediffusion_text2img/%2e%2e/%2e%2e/sdapi.db', 'sdapi.db', 'sdapi.db-wal', '....//....//etc/passwd', '%E0%A4%A', '😀.png',
    ];
    const prefixes = ['/storage/', '/app/', '/vendor/', '/docs/static/', '/docs/', '/'];
    for (const prefix of prefixes) {
      for (const a of attacks) {
        for (const method of ['GET', 'HEAD'] as const) {
          const res = await send('none', { method, url: prefix + a });
          const label = `${method} ${prefix}${a.slice(0, 60)}`;
          if (res.statusCode >= 500) failures.push(`5xx: ${label} → ${res.statusCode}`);
          if (res.statusCode < 400 && !(prefix === '/' && res.statusCode === 200 && res.headers['content-type']?.toString().startsWith('text/html'))) failures.push(`served: ${label} → ${res.statusCode} ${res.headers['content-type']}`);
          if (/root:|"dependencies"|SQLite format|\[core\]/.test(res.body)) failures.push(`file content leaked: ${label}`);
          if (method === 'GET' && res.statusCode >= 400) check(label, res, 'reject', prefix === '/storage/' || prefix.startsWith('/docs'));
        }
      }
    }
    const ok = await send('none', { method: 'GET', url: `/storage/${storedKey}` });
    assert.equal(ok.statusCode, 200, 'the probe file itself is served');
    report();
  });

  it('the limits give the documented answers (422 naming the field, 413, 415, 400, 414), and a form in ISO-8859-1 keeps its characters', async () => {
    const form = (payload: string, type = 'application/x-www-form-urlencoded') => ({ method: 'POST' as const, url: `${API_PREFIX}/applications`, headers: { 'content-type': type }, payload });
    const entry = (payload: string) => ({ method: 'POST' as const, url: `${API_PREFIX}/threads/${thread}/entry`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload });
    const expectations: [string, InjectOptions, number, string?][] = [
      ['10k form parameters', form(Array.from({ length: 10_000 }, (_, i) => `k${i}=1`).join('&')), 422, 'body'],
      ['form depth 50', form('name' + '[a]'.repeat(50) + '=1'), 422, 'body'],
      ['prompts[999999]', entry('engine=stable-diffusion-v1-6&resolution=512x512&prompts[999999][text]=x'), 422, 'body'],
      ['prompts[0][text][x]', entry('engine=stable-diffusion-v1-6&resolution=512x512&prompts[0][text][x]=y'), 422, 'prompts.0.text'],
      ['weight=Infinity (form)', entry('engine=stable-diffusion-v1-6&resolution=512x512&prompts[0][text]=x&prompts[0][weight]=Infinity'), 422, 'prompts.0.weight'],
      ['cfg_scale=1e999 (form)', entry('engine=stable-diffusion-v1-6&resolution=512x512&prompts[0][text]=x&cfg_scale=1e999'), 422, 'cfg_scale'],
      ['weight 1e308 (JSON)', { method: 'POST', url: `${API_PREFIX}/threads/${thread}/entry`, payload: { ...ENTRY, prompts: [{ text: 'x', weight: 1e308 }] } }, 422, 'prompts.0.weight'],
      ['NUL in prompt text', { method: 'POST', url: `${API_PREFIX}/threads/${thread}/entry`, payload: { ...ENTRY, prompts: [{ text: 'a\u0000b', weight: 1 }] } }, 422, 'prompts.0.text'],
      ['NUL in a name', { method: 'POST', url: `${API_PREFIX}/applications`, payload: { name: 'a\u0000b' } }, 422, 'name'],
      ['escape sequence in a name', { method: 'POST', url: `${API_PREFIX}/applications`, payload: { name: '\u001b[31mred' } }, 422, 'name'],
      ['NUL in an email', { method: 'POST', url: `${API_PREFIX}/auth/login`, payload: { email: 'a\u0000@example.com', password: PASSWORD } }, 422, 'email'],
      ['JSON in UTF-16', { ...form('{"name":"a"}', 'application/json; charset=utf-16') }, 415],
      ['form in Shift_JIS', form('name=a', 'application/x-www-form-urlencoded; charset=shift_jis'), 415],
      ['text/plain', form('name=a', 'text/plain'), 415],
      ['JSON that is not UTF-8', { method: 'POST', url: `${API_PREFIX}/applications`, headers: { 'content-type': 'application/json' }, payload: Buffer.from([0x7b, 0x22, 0x6e, 0x61, 0x6d, 0x65, 0x22, 0x3a, 0x22, 0xe9, 0x22, 0x7d]) }, 400],
      ['multipart field name over 200 chars', { method: 'POST', url: `${API_PREFIX}/applications`, headers: { 'content-type': multipartBody({}).contentType }, payload: multipartBody({ ['n'.repeat(300)]: 'x', name: 'a' }).payload }, 422, 'body'],
      ['multipart 1000 fields', { method: 'POST', url: `${API_PREFIX}/applications`, headers: { 'content-type': multipartBody({}).contentType }, payload: multipartBody(Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, '1']))).payload }, 422, 'body'],
      ['page=1e300', { method: 'GET', url: `${API_PREFIX}/threads?page=1e300` }, 422, 'page'],
      ['page=Infinity', { method: 'GET', url: `${API_PREFIX}/account/ledger?page=Infinity` }, 422, 'page'],
      ['per_page=Infinity', { method: 'GET', url: `${API_PREFIX}/threads?per_page=Infinity` }, 422, 'per_page'],
      ['over-long path parameter', { method: 'GET', url: `${API_PREFIX}/threads/${'a'.repeat(500)}` }, 414],
      ['broken percent-encoding in the path', { method: 'GET', url: `${API_PREFIX}/threads/%E0%A4%A` }, 400],
      ['a NUL application id', { method: 'GET', url: `${API_PREFIX}/applications/%00` }, 404],
    ];
    for (const [name, options, status, field] of expectations) {
      const res = await probeWrite(name, 'bearer', options, 'reject');
      assert.equal(res.statusCode, status, `${name}: ${res.body.slice(0, 300)}`);
      assert.equal(typeof res.json().message, 'string', name);
      assert.ok(res.json().message.length < 300, `${name}: short message`);
      if (field) assert.ok(res.json().errors?.[field], `${name}: errors.${field} in ${res.body.slice(0, 300)}`);
    }
    report();

    await makeRoom();
    const latin1 = await send('bearer', form('name=%E9t%E9+%E0+Paris', 'application/x-www-form-urlencoded; charset=ISO-8859-1'));
    assert.equal(latin1.statusCode, 201, latin1.body);
    assert.equal(latin1.json().data.name, 'été à Paris');
    const utf8 = await send('bearer', form('name=%C3%A9t%C3%A9+%F0%9F%9A%B2'));
    assert.equal(utf8.statusCode, 201, utf8.body);
    assert.equal(utf8.json().data.name, 'été 🚲');
    const far = await send('bearer', { method: 'GET', url: `${API_PREFIX}/threads?page=1000000&per_page=100` });
    assert.equal(far.statusCode, 200, far.body);
    assert.deepEqual(far.json().data, []);
  });

  it('very long URLs, unsupported methods, HEAD and OPTIONS everywhere', async () => {
    const methods = ['HEAD', 'OPTIONS', 'PUT', 'PATCH', 'DELETE', 'POST', 'TRACE', 'PROPFIND', 'SEARCH', 'LOCK'] as const;
    const seen = new Set<string>();
    for (const r of routes) {
      const url = concrete(r.url);
      if (seen.has(url)) continue;
      seen.add(url);
      for (const method of methods) {
        if (routes.some((x) => x.url === r.url && x.method === method) && method !== 'HEAD') continue;
        let res: LightMyRequestResponse;
        try {
          res = await send('bearer', { method: method as 'GET', url });
        } catch (err) {
          failures.push(`inject threw for ${method} ${url}: ${(err as Error).message}`);
          continue;
        }
        if (res.statusCode >= 500) failures.push(`5xx: ${method} ${url} → ${res.statusCode} ${res.body.slice(0, 200)}`);
        if (method !== 'HEAD' && res.statusCode >= 400) check(`${method} ${url}`, res, 'reject', url.startsWith(API_PREFIX) || url.startsWith('/storage'));
      }
    }
    for (const url of [`${API_PREFIX}/threads/${'a'.repeat(100_000)}`, `${API_PREFIX}/threads?${'q'.repeat(100_000)}=1`, `/${'x/'.repeat(20_000)}`, `${API_PREFIX}/${'%2e%2e/'.repeat(1000)}`, '/storage/' + '%'.repeat(1000)]) {
      const res = await send('bearer', { method: 'GET', url });
      check(`GET ${url.slice(0, 60)}… (${url.length} chars)`, res, 'any');
    }
    report();
  });
});

describe('concurrent writes', () => {
  let ctx: ApiContext;
  before(async () => {
    ctx = await createApiContext();
  });
  after(() => ctx.close());

  const newThread = async (token: string) =>
    (await ctx.request(token, { method: 'POST', url: `${API_PREFIX}/threads`, payload: { ai_version_code: 'stablediffusion_text2img' } })).json().data.guid as string;

  it('10 parallel identical requests with credits for 3: exactly 3 accepted, 7 refused with 402, never overdrawn', async () => {
    const user = await ctx.user('parallel@example.com', 3);
    const guid = await newThread(user.token);
    const results = await Promise.all(Array.from({ length: 10 }, () => ctx.request(user.token, { method: 'POST', url: `${API_PREFIX}/threads/${guid}/entry`, payload: ENTRY })));
    const statuses = results.map((r) => r.statusCode).sort();
    assert.deepEqual(statuses, [201, 201, 201, 402, 402, 402, 402, 402, 402, 402], results.map((r) => r.body.slice(0, 200)).join('\n'));
    for (const r of results.filter((x) => x.statusCode === 402)) assert.equal(typeof r.json().message, 'string');
    assert.equal(await ctx.services.credits.balance(user.id), 0);
    const entries = (await ctx.request(user.token, { method: 'GET', url: `${API_PREFIX}/threads/${guid}/entries` })).json().data;
    assert.equal(entries.length, 3);
    assert.deepEqual(new Set(entries.map((e: { created_at: string; guid: string }) => e.guid)).size, 3);
    const ledger = await ctx.services.credits.listLedger(user.id, { page: 1, perPage: 50 });
    assert.equal(ledger.items.filter((i) => i.kind === 'reserve').length, 3);
    assert.ok(ledger.items.every((i) => i.balanceAfter >= 0));
  });

  it('deleting a thread while entries are posted to it: every post is 201 or 404, never 500, and no credit is lost', async () => {
    for (let round = 0; round < 5; round++) {
      const user = await ctx.user(`race${round}@example.com`, 100);
      const guid = await newThread(user.token);
      const posts = Array.from({ length: 8 }, () => ctx.request(user.token, { method: 'POST', url: `${API_PREFIX}/threads/${guid}/entry`, payload: ENTRY }));
      const del = ctx.request(user.token, { method: 'DELETE', url: `${API_PREFIX}/threads/${guid}` });
      const more = Array.from({ length: 8 }, () => ctx.request(user.token, { method: 'POST', url: `${API_PREFIX}/threads/${guid}/entry`, payload: ENTRY }));
      const results = await Promise.all([...posts, ...more]);
      const deleted = await del;
      assert.equal(deleted.statusCode, 204, deleted.body);
      for (const r of results) {
        assert.ok(r.statusCode === 201 || r.statusCode === 404, `${r.statusCode} ${r.body.slice(0, 300)}`);
        assert.equal(typeof r.json().message === 'string' || typeof r.json().data === 'object', true);
      }
      // Everything reserved for the deleted thread came back, and nothing of it is left behind.
      assert.equal(await ctx.services.credits.balance(user.id), 100, `round ${round}: ${results.map((r) => r.statusCode).join(',')}`);
      const left = await ctx.store.db.selectFrom('entries').select('id').where('thread_id', '=', guid).execute();
      assert.deepEqual(left, []);
      assert.equal((await ctx.request(user.token, { method: 'GET', url: `${API_PREFIX}/threads/${guid}/entries` })).statusCode, 404);
    }
  });
});
