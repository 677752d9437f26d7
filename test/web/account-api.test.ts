import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hashSecret } from '../../src/services/identity/secrets.ts';
import { Browser, bearerRequest, buildHarness, rawSetCookie, type Harness } from './helpers.ts';

const ENTRY = {
  type: 'request',
  engine: 'stable-diffusion-v1-6',
  resolution: '512x512',
  prompts: [{ text: 'a red bicycle', weight: 1 }],
  images: 1,
  steps: 10,
};

describe('account API: registration, sessions and cookies', () => {
  let h: Harness;
  before(async () => {
    h = await buildHarness();
  });
  after(() => h.close());

  it('register opens a session with an HttpOnly, SameSite=Lax, Path=/ cookie (not Secure over plain http) and grants sign-up credits', async () => {
    const browser = new Browser(h.app);
    const res = await browser.request('POST', '/api/v1/auth/register', { email: 'Reg@Example.com', password: 'password-123' });
    assert.equal(res.statusCode, 201);
    const cookie = rawSetCookie(res);
    assert.match(cookie, /^sdapi_session=[\w-]{40,};/);
    assert.match(cookie, /; HttpOnly/);
    assert.match(cookie, /; SameSite=Lax/);
    assert.match(cookie, /; Path=\//);
    assert.doesNotMatch(cookie, /Secure/);
    assert.equal(res.headers['cache-control'], 'no-store');
    const data = res.json().data;
    assert.equal(data.user.email, 'reg@example.com');
    assert.equal(data.user.credits, 100);
    assert.equal(data.method, 'session');
    assert.ok(data.csrf_token.length >= 32);

    const session = await browser.request('GET', '/api/v1/auth/session');
    assert.equal(session.json().data.user.email, 'reg@example.com');
    assert.equal(session.json().data.csrf_token, data.csrf_token);

    const ledger = await browser.request('GET', '/api/v1/account/ledger');
    assert.equal(ledger.statusCode, 200);
    assert.deepEqual(
      ledger.json().data.map((r: { kind: string; amount: number; balance_after: number }) => [r.kind, r.amount, r.balance_after]),
      [['grant', 100, 100]],
    );
    assert.equal(ledger.json().meta.total, 1);
  });

  it('stores the password only as a scrypt hash', async () => {
    await new Browser(h.app).register('hash@example.com', 'my-secret-password');
    const row = await h.store.db.selectFrom('users').select('password_hash').where('email', '=', 'hash@example.com').executeTakeFirstOrThrow();
    assert.match(row.password_hash, /^scrypt\$16384\$8\$1\$/);
    assert.ok(!row.password_hash.includes('my-secret-password'));
  });

  it('refuses a duplicate email (409) and a short password (422 naming the field)', async () => {
    await new Browser(h.app).register('dup@example.com');
    const dup = await new Browser(h.app).request('POST', '/api/v1/auth/register', { email: 'DUP@example.com', password: 'password-123' });
    assert.equal(dup.statusCode, 409);
    const short = await new Browser(h.app).request('POST', '/api/v1/auth/register', { email: 'short@example.com', password: 'short' });
    assert.equal(short.statusCode, 422);
    assert.ok(short.json().errors.password);
  });

  it('GET /auth/session answers user null without a session, and logout ends the session at once', async () => {
    const anon = await new Browser(h.app).request('GET', '/api/v1/auth/session');
    assert.equal(anon.statusCode, 200);
    assert.equal(anon.json().data.user, null);

    const browser = new Browser(h.app);
    await browser.register('logout@example.com');
    const oldCookie = browser.cookie;
    const out = await browser.request('POST', '/api/v1/auth/logout');
    assert.equal(out.statusCode, 204);
    assert.match(rawSetCookie(out), /^sdapi_session=; .*Max-Age=0/);
    browser.cookie = oldCookie; // a client that kept the old cookie gets nothing with it
    const after = await browser.request('GET', '/api/v1/applications');
    assert.equal(after.statusCode, 401);
  });

  it('marks the cookie Secure when the public URL is https', async () => {
    const secure = await buildHarness({ SDAPI_PUBLIC_URL: 'https://images.example.com' });
    try {
      const res = await new Browser(secure.app).request('POST', '/api/v1/auth/register', { email: 's@example.com', password: 'password-123' });
      assert.match(rawSetCookie(res), /; Secure/);
    } finally {
      await secure.close();
    }
  });

  it('believes X-Forwarded-Proto only behind a trusted proxy (SDAPI_TRUST_PROXY)', async () => {
    const forwarded = { headers: { 'x-forwarded-proto': 'https' } };
    const untrusted = await new Browser(h.app).request('POST', '/api/v1/auth/register', { email: 'fwd1@example.com', password: 'password-123' }, forwarded);
    assert.doesNotMatch(rawSetCookie(untrusted), /Secure/);
    const proxied = await buildHarness({ SDAPI_TRUST_PROXY: 'true' });
    try {
      const res = await new Browser(proxied.app).request('POST', '/api/v1/auth/register', { email: 'fwd2@example.com', password: 'password-123' }, forwarded);
      assert.match(rawSetCookie(res), /; Secure/);
    } finally {
      await proxied.close();
    }
  });

  it('refuses a credential post from another site (login CSRF)', async () => {
    await new Browser(h.app).register('origin@example.com');
    const res = await new Browser(h.app).request('POST', '/api/v1/auth/login', { email: 'origin@example.com', password: 'password-123' }, {
      headers: { origin: 'https://evil.example' },
    });
    assert.equal(res.statusCode, 403);
    const same = await new Browser(h.app).request('POST', '/api/v1/auth/login', { email: 'origin@example.com', password: 'password-123' }, {
      headers: { origin: 'http://localhost:80', host: 'localhost:80' },
    });
    assert.equal(same.statusCode, 200);
  });
});

describe('account API: CSRF on cookie-authenticated writes', () => {
  let h: Harness;
  let browser: Browser;
  before(async () => {
    h = await buildHarness();
    browser = new Browser(h.app);
    await browser.register('csrf@example.com');
  });
  after(() => h.close());

  it('a write with the cookie but no X-CSRF-Token gets 403, and nothing is written', async () => {
    const res = await browser.request('POST', '/api/v1/applications', { name: 'no-csrf' }, { csrf: null });
    assert.equal(res.statusCode, 403);
    assert.equal(res.json().code, 'csrf_mismatch');
    const apps = await browser.request('GET', '/api/v1/applications');
    assert.deepEqual(apps.json().data, []);
  });

  it('a wrong X-CSRF-Token gets 403 on every write method and API area', async () => {
    const ok = await browser.request('POST', '/api/v1/applications', { name: 'app' });
    assert.equal(ok.statusCode, 201);
    const id = ok.json().data.id;
    const thread = await browser.request('POST', '/api/v1/threads', { ai_version_code: 'stablediffusion_text2img' });
    assert.equal(thread.statusCode, 201);
    const guid = thread.json().data.guid;
    const attempts: [string, string, unknown][] = [
      ['PATCH', `/api/v1/applications/${id}`, { name: 'renamed' }],
      ['DELETE', `/api/v1/applications/${id}`, undefined],
      ['POST', `/api/v1/applications/${id}/tokens`, { name: 't' }],
      ['POST', '/api/v1/threads', { ai_version_code: 'stablediffusion_text2img' }],
      ['POST', `/api/v1/threads/${guid}/entry`, ENTRY],
      ['DELETE', `/api/v1/threads/${guid}`, undefined],
      ['POST', '/api/v1/auth/logout', undefined],
    ];
    for (const [method, url, body] of attempts) {
      const res = await browser.request(method as 'POST', url, body, { csrf: 'wrong-token' });
      assert.equal(res.statusCode, 403, `${method} ${url}`);
      const missing = await browser.request(method as 'POST', url, body, { csrf: null });
      assert.equal(missing.statusCode, 403, `${method} ${url} without the header`);
    }
    assert.equal((await browser.request('GET', `/api/v1/applications/${id}`)).json().data.name, 'app');
    assert.equal((await browser.request('GET', `/api/v1/threads/${guid}`)).statusCode, 200, 'reads need no CSRF token');
  });

  it('the right token lets the write through, and bearer-token writes need none', async () => {
    const app = await browser.request('POST', '/api/v1/applications', { name: 'with-csrf' });
    assert.equal(app.statusCode, 201);
    const token = await browser.request('POST', `/api/v1/applications/${app.json().data.id}/tokens`, { name: 'cli' });
    assert.equal(token.statusCode, 201);
    const viaToken = await bearerRequest(h.app, 'POST', '/api/v1/applications', token.json().data.token, { name: 'via-token' });
    assert.equal(viaToken.statusCode, 201);
  });
});

describe('account API: applications and tokens', () => {
  let h: Harness;
  let browser: Browser;
  before(async () => {
    h = await buildHarness();
    browser = new Browser(h.app);
    await browser.register('apps@example.com');
  });
  after(() => h.close());

  it('creates, renames, lists and deletes applications', async () => {
    const created = await browser.request('POST', '/api/v1/applications', { name: 'First' });
    assert.equal(created.statusCode, 201);
    const id = created.json().data.id;
    const renamed = await browser.request('PATCH', `/api/v1/applications/${id}`, { name: 'Renamed' });
    assert.equal(renamed.json().data.name, 'Renamed');
    assert.deepEqual((await browser.request('GET', '/api/v1/applications')).json().data.map((a: { name: string }) => a.name), ['Renamed']);
    const empty = await browser.request('PATCH', `/api/v1/applications/${id}`, { name: '' });
    assert.equal(empty.statusCode, 422);
    assert.equal((await browser.request('DELETE', `/api/v1/applications/${id}`)).statusCode, 204);
    assert.deepEqual((await browser.request('GET', '/api/v1/applications')).json().data, []);
    assert.equal((await browser.request('GET', `/api/v1/applications/${id}`)).statusCode, 404);
  });

  it('shows a token once, stores only its SHA-256, and lists name, prefix, created and last used', async () => {
    const id = (await browser.request('POST', '/api/v1/applications', { name: 'Tokens' })).json().data.id;
    const res = await browser.request('POST', `/api/v1/applications/${id}/tokens`, { name: 'laptop' });
    assert.equal(res.statusCode, 201);
    assert.equal(res.headers['cache-control'], 'no-store');
    const token = res.json().data.token as string;
    assert.match(token, /^sdapi_[\w-]{40,}$/);
    assert.ok(token.startsWith(res.json().data.prefix));

    const row = await h.store.db.selectFrom('api_tokens').selectAll().where('id', '=', res.json().data.id).executeTakeFirstOrThrow();
    assert.equal(row.token_hash, hashSecret(token));
    assert.ok(!Object.values(row).includes(token), 'the token itself is in no column');

    const before = (await browser.request('GET', `/api/v1/applications/${id}/tokens`)).json().data;
    assert.equal(before.length, 1);
    assert.equal(before[0].token, undefined, 'the list never shows the token');
    assert.deepEqual([before[0].name, before[0].prefix, before[0].last_used_at], ['laptop', res.json().data.prefix, null]);
    assert.match(before[0].created_at, /^\d{4}-\d\d-\d\dT/);

    assert.equal((await bearerRequest(h.app, 'GET', '/api/v1/threads', token)).statusCode, 200);
    const usedList = (await browser.request('GET', `/api/v1/applications/${id}/tokens`)).json().data;
    assert.match(usedList[0].last_used_at, /^\d{4}-\d\d-\d\dT/);
  });

  it('a revoked token gets 401 on its very next request', async () => {
    const id = (await browser.request('POST', '/api/v1/applications', { name: 'Revoke' })).json().data.id;
    const created = (await browser.request('POST', `/api/v1/applications/${id}/tokens`, { name: 'soon-revoked' })).json().data;
    const other = (await browser.request('POST', `/api/v1/applications/${id}/tokens`, { name: 'kept' })).json().data;
    assert.equal((await bearerRequest(h.app, 'GET', '/api/v1/threads', created.token)).statusCode, 200);
    const revoke = await browser.request('DELETE', `/api/v1/applications/${id}/tokens/${created.id}`);
    assert.equal(revoke.statusCode, 204);
    assert.equal((await bearerRequest(h.app, 'GET', '/api/v1/threads', created.token)).statusCode, 401);
    assert.equal((await bearerRequest(h.app, 'POST', '/api/v1/threads', created.token, { ai_version_code: 'stablediffusion_text2img' })).statusCode, 401);
    assert.equal((await bearerRequest(h.app, 'GET', '/api/v1/threads', other.token)).statusCode, 200, 'the other token still works');
    const list = (await browser.request('GET', `/api/v1/applications/${id}/tokens`)).json().data;
    assert.ok(list.find((t: { id: string }) => t.id === created.id).revoked_at);
    assert.equal((await browser.request('DELETE', `/api/v1/applications/${id}/tokens/${created.id}`)).statusCode, 404, 'revoking twice is 404');
  });

  it('deleting an application revokes all its tokens', async () => {
    const id = (await browser.request('POST', '/api/v1/applications', { name: 'Doomed' })).json().data.id;
    const a = (await browser.request('POST', `/api/v1/applications/${id}/tokens`, { name: 'a' })).json().data.token;
    const b = (await browser.request('POST', `/api/v1/applications/${id}/tokens`, { name: 'b' })).json().data.token;
    assert.equal((await bearerRequest(h.app, 'GET', '/api/v1/threads', a)).statusCode, 200);
    assert.equal((await browser.request('DELETE', `/api/v1/applications/${id}`)).statusCode, 204);
    assert.equal((await bearerRequest(h.app, 'GET', '/api/v1/threads', a)).statusCode, 401);
    assert.equal((await bearerRequest(h.app, 'GET', '/api/v1/threads', b)).statusCode, 401);
  });
});

describe('account API: a token or session sees only its own account', () => {
  let h: Harness;
  const owner = { appId: '', tokenId: '', thread: '', token: '' };
  let intruder: Browser;
  let intruderToken = '';
  before(async () => {
    h = await buildHarness();
    const alice = new Browser(h.app);
    await alice.register('alice@example.com');
    owner.appId = (await alice.request('POST', '/api/v1/applications', { name: 'Alice app' })).json().data.id;
    const t = (await alice.request('POST', `/api/v1/applications/${owner.appId}/tokens`, { name: 'alice' })).json().data;
    owner.tokenId = t.id;
    owner.token = t.token;
    owner.thread = (await alice.request('POST', '/api/v1/threads', { ai_version_code: 'stablediffusion_text2img' })).json().data.guid;
    const entry = await alice.request('POST', `/api/v1/threads/${owner.thread}/entry`, ENTRY);
    assert.equal(entry.statusCode, 201, entry.body);

    intruder = new Browser(h.app);
    await intruder.register('mallory@example.com');
    const mApp = (await intruder.request('POST', '/api/v1/applications', { name: 'Mallory app' })).json().data.id;
    intruderToken = (await intruder.request('POST', `/api/v1/applications/${mApp}/tokens`, { name: 'm' })).json().data.token;
  });
  after(() => h.close());

  const attempts = (): [string, string, unknown][] => [
    ['GET', `/api/v1/applications/${owner.appId}`, undefined],
    ['PATCH', `/api/v1/applications/${owner.appId}`, { name: 'pwned' }],
    ['GET', `/api/v1/applications/${owner.appId}/tokens`, undefined],
    ['POST', `/api/v1/applications/${owner.appId}/tokens`, { name: 'backdoor' }],
    ['DELETE', `/api/v1/applications/${owner.appId}/tokens/${owner.tokenId}`, undefined],
    ['DELETE', `/api/v1/applications/${owner.appId}`, undefined],
    ['GET', `/api/v1/threads/${owner.thread}`, undefined],
    ['GET', `/api/v1/threads/${owner.thread}/entries`, undefined],
    ['POST', `/api/v1/threads/${owner.thread}/entry`, ENTRY],
    ['DELETE', `/api/v1/threads/${owner.thread}`, undefined],
  ];

  it('with a session cookie: every attempt on another account is 404', async () => {
    for (const [method, url, body] of attempts()) {
      const res = await intruder.request(method as 'GET', url, body);
      assert.equal(res.statusCode, 404, `${method} ${url}: ${res.body}`);
    }
  });

  it('with a bearer token: every attempt on another account is 404', async () => {
    for (const [method, url, body] of attempts()) {
      const res = await bearerRequest(h.app, method as 'GET', url, intruderToken, body);
      assert.equal(res.statusCode, 404, `${method} ${url}: ${res.body}`);
    }
  });

  it("lists show only the caller's own objects, and the owner's objects are untouched", async () => {
    const apps = await bearerRequest(h.app, 'GET', '/api/v1/applications', intruderToken);
    assert.deepEqual(apps.json().data.map((a: { name: string }) => a.name), ['Mallory app']);
    const threads = await bearerRequest(h.app, 'GET', '/api/v1/threads', intruderToken);
    assert.deepEqual(threads.json().data, []);
    const ledger = await bearerRequest(h.app, 'GET', '/api/v1/account/ledger', intruderToken);
    assert.deepEqual(ledger.json().data.map((r: { kind: string }) => r.kind), ['grant']);

    const ownerApp = await bearerRequest(h.app, 'GET', `/api/v1/applications/${owner.appId}`, owner.token);
    assert.equal(ownerApp.json().data.name, 'Alice app');
    const ownerEntries = await bearerRequest(h.app, 'GET', `/api/v1/threads/${owner.thread}/entries`, owner.token);
    assert.equal(ownerEntries.json().data.length, 1);
    const ownerTokens = await bearerRequest(h.app, 'GET', `/api/v1/applications/${owner.appId}/tokens`, owner.token);
    assert.deepEqual(ownerTokens.json().data.map((t: { name: string; revoked_at: string | null }) => [t.name, t.revoked_at]), [['alice', null]]);
  });

  it('without any credentials the account routes answer 401', async () => {
    for (const url of ['/api/v1/applications', '/api/v1/account/ledger', `/api/v1/applications/${owner.appId}/tokens`]) {
      const res = await h.app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 401, url);
    }
    const bad = await bearerRequest(h.app, 'GET', '/api/v1/applications', 'sdapi_not-a-real-token');
    assert.equal(bad.statusCode, 401);
  });
});

describe('account API: login throttling', () => {
  let h: Harness;
  before(async () => {
    h = await buildHarness();
    await new Browser(h.app).register('target@example.com', 'right-password');
  });
  after(() => h.close());

  it('a wrong password is a 422 naming no field but email, and the same for an unknown email', async () => {
    const wrong = await new Browser(h.app, '10.1.0.1').login('target@example.com', 'wrong-password');
    const unknown = await new Browser(h.app, '10.1.0.1').login('nobody@example.com', 'wrong-password');
    assert.equal(wrong.statusCode, 422);
    assert.deepEqual(unknown.json(), wrong.json(), 'an unknown email and a wrong password look the same');
    const ok = await new Browser(h.app, '10.1.0.1').login('target@example.com', 'right-password');
    assert.equal(ok.statusCode, 200, 'the success clears the account count');
  });

  it('after 5 attempts for one account from one address, that address gets 429 with Retry-After, even with the right password', async () => {
    for (let i = 0; i < 5; i++) {
      const res = await new Browser(h.app, '10.2.0.1').login('target@example.com', `wrong-${i}`);
      assert.equal(res.statusCode, 422, `attempt ${i + 1}`);
    }
    const blocked = await new Browser(h.app, '10.2.0.1').login('target@example.com', 'right-password');
    assert.equal(blocked.statusCode, 429);
    assert.equal(blocked.json().code, 'rate_limited');
    const retry = Number(blocked.headers['retry-after']);
    assert.ok(Number.isInteger(retry) && retry > 0 && retry <= 900, `Retry-After ${blocked.headers['retry-after']}`);
    assert.equal(setCookieCount(blocked), 0, 'no session is opened');
    const owner = await new Browser(h.app, '10.2.0.99').login('target@example.com', 'right-password');
    assert.equal(owner.statusCode, 200, 'the owner at another address is not locked out');
  });

  it('after 20 failures from one address, that address is refused for any account', async () => {
    const address = '10.3.0.1';
    for (let i = 0; i < 20; i++) {
      const res = await new Browser(h.app, address).login(`spray${i}@example.com`, 'guess');
      assert.equal(res.statusCode, 422, `attempt ${i + 1}`);
    }
    await new Browser(h.app).register('fresh@example.com', 'right-password');
    const blocked = await new Browser(h.app, address).login('fresh@example.com', 'right-password');
    assert.equal(blocked.statusCode, 429);
    assert.ok(Number(blocked.headers['retry-after']) > 0);
    const elsewhere = await new Browser(h.app, '10.3.0.2').login('fresh@example.com', 'right-password');
    assert.equal(elsewhere.statusCode, 200, 'another address is not affected');
  });

  it('the throttle lives in the database, so it survives a new app on the same store', async () => {
    const { buildHttpApp } = await import('../../src/composition/runtime.ts');
    const second = await buildHttpApp(h.runtime);
    try {
      const res = await new Browser(second, '10.2.0.1').login('target@example.com', 'right-password');
      assert.equal(res.statusCode, 429);
    } finally {
      await second.close();
    }
  });
});

function setCookieCount(res: { headers: Record<string, unknown> }): number {
  const header = res.headers['set-cookie'];
  return Array.isArray(header) ? header.length : header ? 1 : 0;
}

describe('web UI and OpenAPI', () => {
  let h: Harness;
  before(async () => {
    h = await buildHarness();
  });
  after(() => h.close());

  it('serves the page at / under a strict Content-Security-Policy, with its modules and vendored Preact', async () => {
    const page = await h.app.inject({ method: 'GET', url: '/' });
    assert.equal(page.statusCode, 200);
    assert.match(page.headers['content-type'] as string, /^text\/html/);
    const csp = page.headers['content-security-policy'] as string;
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(page.body, /<script>(?!<\/script>)/, 'no inline script');
    assert.match(page.body, /<script type="module" src="\/app\/src\/main.js"><\/script>/);

    const main = await h.app.inject({ method: 'GET', url: '/app/src/main.js' });
    assert.equal(main.statusCode, 200);
    assert.match(main.headers['content-type'] as string, /^text\/javascript/);
    const hooks = await h.app.inject({ method: 'GET', url: '/vendor/preact-hooks.mjs' });
    assert.equal(hooks.statusCode, 200);
    assert.match(hooks.body, /from"\.\/preact\.mjs"/);
    assert.doesNotMatch(hooks.body, /from"preact"/);
    for (const url of ['/vendor/preact.mjs', '/vendor/htm.mjs', '/app/app.css']) {
      assert.equal((await h.app.inject({ method: 'GET', url })).statusCode, 200, url);
    }
    // The guide to adding a real model, which the playground links to while the demo model serves.
    const guide = await h.app.inject({ method: 'GET', url: '/app/docs/models.md' });
    assert.equal(guide.statusCode, 200);
    assert.match(guide.headers['content-type'] as string, /^text\/plain; charset=utf-8/);
    assert.match(guide.body, /^# /);
    for (const url of ['/app/../package.json', '/app/%2e%2e/package.json', '/vendor/../../package.json', '/app/nope.js', '/app/docs/README.md']) {
      assert.equal((await h.app.inject({ method: 'GET', url })).statusCode, 404, url);
    }
  });

  it('documents every account route in the one OpenAPI document, with both security schemes', async () => {
    const doc = (await h.app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json();
    for (const path of [
      '/api/v1/auth/register',
      '/api/v1/auth/login',
      '/api/v1/auth/logout',
      '/api/v1/auth/session',
      '/api/v1/account/ledger',
      '/api/v1/applications',
      '/api/v1/applications/{id}',
      '/api/v1/applications/{id}/tokens',
      '/api/v1/applications/{id}/tokens/{tokenId}',
      '/api/v1/threads',
    ]) {
      assert.ok(doc.paths[path], `${path} is documented`);
    }
    assert.ok(doc.components.securitySchemes.sessionCookie);
    assert.ok(doc.components.securitySchemes.bearerAuth);
    assert.ok(doc.paths['/api/v1/applications/{id}/tokens'].post.responses['201']);
    assert.equal(doc.paths['/'], undefined, 'the UI routes are not API routes');
  });
});
