/**
 * Abuse resistance of the account API (issue #17): the registration throttle, the login race and the per-address
 * lockout, the password policy, cross-site cookie writes, sign-up modes and invites, and the per-account limits.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { APPLICATIONS_PER_USER_MAX } from '../../src/services/identity/applications.ts';
import { THREADS_PER_USER_MAX } from '../../src/services/threads/thread-service.ts';
import { steppingClock } from '../helpers/clock.ts';
import { Browser, bearerRequest, buildHarness, type Harness } from './helpers.ts';

const register = (h: Harness, body: Record<string, string>, address = '127.0.0.1', headers: Record<string, string> = {}) =>
  h.app.inject({ method: 'POST', url: '/api/v1/auth/register', remoteAddress: address, payload: body, headers });
const userCount = async (h: Harness) => Number((await h.store.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);

describe('registration throttle', () => {
  let h: Harness;
  before(async () => {
    h = await buildHarness({ SDAPI_SIGNUP_LIMIT: '5/1h' });
  });
  after(() => h.close());

  it('allows 5 registrations per address and hour, then 429 with Retry-After; other addresses are not affected', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await register(h, { email: `serial${i}@example.com`, password: 'a-long-password' }, '10.1.0.1')).statusCode, 201);
    const refused = await register(h, { email: 'serial5@example.com', password: 'a-long-password' }, '10.1.0.1');
    assert.equal(refused.statusCode, 429);
    assert.equal(refused.json().code, 'rate_limited');
    const retry = Number(refused.headers['retry-after']);
    assert.ok(retry > 3500 && retry <= 3600, `Retry-After ${retry}`);
    assert.equal((await register(h, { email: 'other-address@example.com', password: 'a-long-password' }, '10.1.0.2')).statusCode, 201);
  });

  it('refused input does not use up the allowance: a weak password or a taken email costs nothing', async () => {
    for (let i = 0; i < 8; i++) assert.equal((await register(h, { email: `weak${i}@example.com`, password: 'short' }, '10.1.1.1')).statusCode, 422);
    for (let i = 0; i < 3; i++) assert.equal((await register(h, { email: 'serial0@example.com', password: 'a-long-password' }, '10.1.1.1')).statusCode, 409);
    for (let i = 0; i < 5; i++) assert.equal((await register(h, { email: `after-typos${i}@example.com`, password: 'a-long-password' }, '10.1.1.1')).statusCode, 201);
  });

  it('25 parallel registrations from one address create exactly 5 accounts', async () => {
    const before = await userCount(h);
    const results = await Promise.all(Array.from({ length: 25 }, (_, i) => register(h, { email: `burst${i}@example.com`, password: 'a-long-password' }, '10.1.2.1')));
    assert.equal(results.filter((r) => r.statusCode === 201).length, 5);
    assert.equal(results.filter((r) => r.statusCode === 429).length, 20);
    assert.equal((await userCount(h)) - before, 5);
  });
});

describe('login: attempts counted before the check, lockout per (account, address)', () => {
  let h: Harness;
  const waits: number[] = [];
  before(async () => {
    h = await buildHarness({}, { loginWait: async (ms) => void waits.push(ms) });
    await new Browser(h.app).register('owner@example.com', 'the-owners-password');
  });
  after(() => h.close());

  it('of 40 concurrent wrong passwords from one address, 5 are checked and the rest answer 429', async () => {
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => h.app.inject({ method: 'POST', url: '/api/v1/auth/login', remoteAddress: '10.2.0.1', payload: { email: 'owner@example.com', password: `guess-number-${i}` } })),
    );
    const statuses = results.map((r) => r.statusCode);
    assert.equal(statuses.filter((s) => s === 422).length, 5, statuses.join(','));
    assert.equal(statuses.filter((s) => s === 429).length, 35);
    for (const r of results.filter((x) => x.statusCode === 429)) assert.ok(Number(r.headers['retry-after']) > 0);
    const right = await new Browser(h.app, '10.2.0.1').login('owner@example.com', 'the-owners-password');
    assert.equal(right.statusCode, 429, 'the attacking address stays locked out, even with the right password');
  });

  it('the owner at another address logs in at once', async () => {
    const owner = await new Browser(h.app, '10.2.9.9').login('owner@example.com', 'the-owners-password');
    assert.equal(owner.statusCode, 200);
    assert.deepEqual(waits, []);
  });

  it('an attack from many addresses slows the owner down and never locks the owner out', async () => {
    await new Browser(h.app).register('popular@example.com', 'the-owners-password');
    for (let i = 0; i < 12; i++) {
      const res = await new Browser(h.app, `10.3.0.${i}`).login('popular@example.com', 'wrong-password-x');
      assert.equal(res.statusCode, 422, `address ${i}`);
    }
    assert.deepEqual(waits, [1000, 2000], 'past 10 failures on the account, each attempt waits longer');
    const owner = await new Browser(h.app, '10.3.9.9').login('popular@example.com', 'the-owners-password');
    assert.equal(owner.statusCode, 200);
    assert.deepEqual(waits, [1000, 2000, 4000], 'the owner waited, and got in');
  });
});

describe('password policy (NIST SP 800-63B)', () => {
  let h: Harness;
  before(async () => {
    h = await buildHarness();
  });
  after(() => h.close());

  it('refuses short, common and email-derived passwords with 422 naming the password', async () => {
    const cases: [string, string, RegExp][] = [
      ['short@example.com', 'nine-char', /between 10 and 256 characters/],
      ['common@example.com', 'password1234', /most common passwords/],
      ['common2@example.com', 'QwertyUiop', /most common passwords/],
      ['Alice.Smith@example.com', 'alice.smith@example.com', /email address/],
      ['bob.longname@example.com', 'Bob.Longname', /email address/],
      ['same@example.com', 'aaaaaaaaaaaa', /too easy to guess/],
    ];
    for (const [email, password, message] of cases) {
      const res = await register(h, { email, password });
      assert.equal(res.statusCode, 422, `${password}: ${res.body}`);
      assert.match(res.json().errors.password.join(' '), message, password);
    }
    assert.equal(await userCount(h), 0);
    assert.equal((await register(h, { email: 'ok@example.com', password: '🚲🚲🚲🚲🚲 e-bike' })).statusCode, 201, 'every character counts, emoji included');
  });

  it('applies to accounts made by the operator too (UserService, used by `sdapi users create`)', async () => {
    await assert.rejects(h.services.users.create('cli@example.com', 'iloveyou12'), { code: 'validation_failed' });
    await assert.rejects(h.services.users.create('cli@example.com', 'cli@example.com'), { code: 'validation_failed' });
  });

  it('GET /auth/signup tells the form the rules and the mode', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/api/v1/auth/signup' });
    assert.deepEqual(res.json(), { data: { mode: 'open', password_min_length: 10, password_max_length: 256 } });
  });
});

describe('cookie-authenticated writes from another site', () => {
  let h: Harness;
  let browser: Browser;
  let token: string;
  before(async () => {
    h = await buildHarness();
    browser = new Browser(h.app);
    await browser.register('site@example.com', 'a-long-password');
    const app = (await browser.request('POST', '/api/v1/applications', { name: 'mine' })).json().data.id;
    token = (await browser.request('POST', `/api/v1/applications/${app}/tokens`, { name: 't' })).json().data.token;
  });
  after(() => h.close());

  it('answer 403 for a foreign Origin, or without Origin a foreign Referer or Sec-Fetch-Site: cross-site, and write nothing', async () => {
    const foreign: Record<string, string>[] = [
      { origin: 'https://evil.example' },
      { origin: 'null' },
      { origin: 'http://localhost.evil.example' },
      { referer: 'https://evil.example/page' },
      { 'sec-fetch-site': 'cross-site' },
    ];
    for (const headers of foreign) {
      const res = await browser.request('POST', '/api/v1/applications', { name: 'csrf' }, { headers });
      assert.equal(res.statusCode, 403, JSON.stringify(headers));
      assert.equal(res.json().code, 'csrf_mismatch');
      const del = await browser.request('POST', '/api/v1/auth/logout', undefined, { headers });
      assert.equal(del.statusCode, 403, `logout ${JSON.stringify(headers)}`);
    }
    assert.deepEqual((await browser.request('GET', '/api/v1/applications')).json().data.map((a: { name: string }) => a.name), ['mine']);
  });

  it('let same-site requests through: the same origin, a same-origin Referer, Sec-Fetch-Site same-origin, or none of them', async () => {
    const sameSite: Record<string, string>[] = [{ origin: 'http://localhost:80' }, { referer: 'http://localhost/#/account' }, { 'sec-fetch-site': 'same-origin' }, {}];
    for (const headers of sameSite) {
      const res = await browser.request('POST', '/api/v1/applications', { name: `ok-${Object.keys(headers).join('')}` }, { headers });
      assert.equal(res.statusCode, 201, `${JSON.stringify(headers)}: ${res.body}`);
    }
  });

  it('bearer-token writes are not cookie-authenticated: a foreign Origin does not matter to them', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/api/v1/applications', headers: { authorization: `Bearer ${token}`, origin: 'https://elsewhere.example' }, payload: { name: 'cross-origin script' } });
    assert.equal(res.statusCode, 201);
  });

  it('a credential post (login, register) from another site is refused too', async () => {
    const login = await h.app.inject({ method: 'POST', url: '/api/v1/auth/login', headers: { 'sec-fetch-site': 'cross-site' }, payload: { email: 'site@example.com', password: 'a-long-password' } });
    assert.equal(login.statusCode, 403);
    const reg = await register(h, { email: 'xsite@example.com', password: 'a-long-password' }, '127.0.0.1', { referer: 'https://evil.example/' });
    assert.equal(reg.statusCode, 403);
  });
});

describe('sign-up modes and invites', () => {
  it('SDAPI_SIGNUP=closed: registration answers 403 signup_closed', async () => {
    const h = await buildHarness({ SDAPI_SIGNUP: 'closed' });
    try {
      const res = await register(h, { email: 'nope@example.com', password: 'a-long-password' });
      assert.equal(res.statusCode, 403);
      assert.equal(res.json().code, 'signup_closed');
      assert.equal((await h.app.inject({ method: 'GET', url: '/api/v1/auth/signup' })).json().data.mode, 'closed');
      assert.equal(await userCount(h), 0);
    } finally {
      await h.close();
    }
  });

  describe('SDAPI_SIGNUP=invite', () => {
    let h: Harness;
    const clock = steppingClock(Date.parse('2031-06-01T00:00:00Z'), 0);
    before(async () => {
      h = await buildHarness({ SDAPI_SIGNUP: 'invite', SDAPI_SIGNUP_CREDITS: '0' }, { clock });
    });
    after(() => h.close());

    it('needs an invite (422 naming invite), refuses an unknown one, and grants the invite\'s credits', async () => {
      const without = await register(h, { email: 'a@example.com', password: 'a-long-password' });
      assert.equal(without.statusCode, 422);
      assert.ok(without.json().errors.invite);
      const both = await register(h, { email: 'a@example.com', password: 'short' });
      assert.deepEqual(Object.keys(both.json().errors).sort(), ['invite', 'password'], 'one 422 names every field');
      const unknown = await register(h, { email: 'a@example.com', password: 'a-long-password', invite: 'inv_not-a-real-code' });
      assert.equal(unknown.statusCode, 422);
      assert.match(unknown.json().errors.invite[0], /not valid/);

      const invite = await h.services.invites.create({ credits: 40 });
      const ok = await register(h, { email: 'a@example.com', password: 'a-long-password', invite: invite.code });
      assert.equal(ok.statusCode, 201, ok.body);
      assert.equal(ok.json().data.user.credits, 40);
      const stored = await h.store.db.selectFrom('invites').selectAll().where('id', '=', invite.id).executeTakeFirstOrThrow();
      assert.notEqual(stored.code_hash, invite.code);
      assert.ok(!Object.values(stored).includes(invite.code), 'the code is stored only as a hash');
    });

    it('an invite is single-use by default; --uses N allows N registrations', async () => {
      const once = await h.services.invites.create();
      assert.equal((await register(h, { email: 'b1@example.com', password: 'a-long-password', invite: once.code })).statusCode, 201);
      const again = await register(h, { email: 'b2@example.com', password: 'a-long-password', invite: once.code });
      assert.equal(again.statusCode, 422);
      const twice = await h.services.invites.create({ uses: 2 });
      for (const email of ['c1@example.com', 'c2@example.com']) assert.equal((await register(h, { email, password: 'a-long-password', invite: twice.code })).statusCode, 201);
      assert.equal((await register(h, { email: 'c3@example.com', password: 'a-long-password', invite: twice.code })).statusCode, 422);
    });

    it('parallel registrations with one single-use invite create one account', async () => {
      const invite = await h.services.invites.create();
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => register(h, { email: `race${i}@example.com`, password: 'a-long-password', invite: invite.code })));
      assert.deepEqual(results.map((r) => r.statusCode).sort(), [201, 422, 422, 422, 422, 422, 422, 422]);
    });

    it('a failed registration gives the use back; an expired or revoked invite is refused', async () => {
      const invite = await h.services.invites.create({ expiresInMs: 3600_000 });
      const taken = await register(h, { email: 'a@example.com', password: 'a-long-password', invite: invite.code });
      assert.equal(taken.statusCode, 409, 'the email is taken');
      clock.advance(3599_000);
      assert.equal((await register(h, { email: 'd1@example.com', password: 'a-long-password', invite: invite.code })).statusCode, 201, 'the use was given back');
      const expiring = await h.services.invites.create({ expiresInMs: 60_000 });
      clock.advance(60_000);
      assert.equal((await register(h, { email: 'd2@example.com', password: 'a-long-password', invite: expiring.code })).statusCode, 422);
      const revoked = await h.services.invites.create();
      await h.services.invites.revoke(revoked.id);
      assert.equal((await register(h, { email: 'd3@example.com', password: 'a-long-password', invite: revoked.code })).statusCode, 422);
      const listed = await h.services.invites.list();
      assert.equal(listed.find((i) => i.id === revoked.id)?.revokedAt !== null, true);
    });
  });
});

describe('per-account limits', () => {
  let h: Harness;
  let token: string;
  let userId: string;
  before(async () => {
    h = await buildHarness();
    const user = await h.services.users.create('hoarder@example.com', 'a-long-password');
    userId = user.id;
    const app = await h.services.applications.create(user.id, 'app-1');
    token = (await h.services.applications.createToken(user.id, app.id)).token;
  });
  after(() => h.close());

  it(`at most ${APPLICATIONS_PER_USER_MAX} applications: the next is a 422 naming the limit`, async () => {
    for (let i = 2; i <= APPLICATIONS_PER_USER_MAX; i++) assert.equal((await bearerRequest(h.app, 'POST', '/api/v1/applications', token, { name: `app-${i}` })).statusCode, 201);
    const over = await bearerRequest(h.app, 'POST', '/api/v1/applications', token, { name: 'one too many' });
    assert.equal(over.statusCode, 422);
    assert.match(over.json().errors.applications[0], /at most 20 applications/);
    const parallel = await Promise.all(Array.from({ length: 5 }, () => bearerRequest(h.app, 'POST', '/api/v1/applications', token, { name: 'race' })));
    assert.ok(parallel.every((r) => r.statusCode === 422));
  });

  it(`at most ${THREADS_PER_USER_MAX} threads: the next is a 422 naming the limit; deleting one makes room`, async () => {
    const now = new Date().toISOString();
    const rows = Array.from({ length: THREADS_PER_USER_MAX - 1 }, () => ({
      id: randomUUID(), user_id: userId, ai_code: 'stablediffusion', ai_version_code: 'stablediffusion_text2img', title: 't', created_at: now, updated_at: now, version: 0,
    }));
    for (let i = 0; i < rows.length; i += 200) await h.store.db.insertInto('threads').values(rows.slice(i, i + 200)).execute();
    const last = await bearerRequest(h.app, 'POST', '/api/v1/threads', token, { ai_version_code: 'stablediffusion_text2img' });
    assert.equal(last.statusCode, 201, 'the 1000th');
    const over = await bearerRequest(h.app, 'POST', '/api/v1/threads', token, { ai_version_code: 'stablediffusion_text2img' });
    assert.equal(over.statusCode, 422);
    assert.match(over.json().errors.threads[0], /at most 1000 threads/);
    assert.equal((await bearerRequest(h.app, 'DELETE', `/api/v1/threads/${last.json().data.guid}`, token)).statusCode, 204);
    assert.equal((await bearerRequest(h.app, 'POST', '/api/v1/threads', token, { ai_version_code: 'stablediffusion_text2img' })).statusCode, 201);
  });
});
