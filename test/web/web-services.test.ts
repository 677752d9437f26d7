import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Store } from '../../src/store/database.ts';
import { openTestStore } from '../helpers/scale-out.ts';
import { hashSecret } from '../../src/services/identity/secrets.ts';
import { UserService } from '../../src/services/identity/users.ts';
import { steppingClock } from '../helpers/clock.ts';
import { InviteService } from '../../src/services/identity/invites.ts';
import { FixedWindowCounters } from '../../src/services/limits/fixed-window-counters.ts';
import { AccountService, LoginThrottledError } from '../../src/services/web/accounts.ts';
import { LOGIN_THROTTLE_DEFAULTS, LoginThrottle } from '../../src/services/web/login-throttle.ts';
import { SessionService } from '../../src/services/web/sessions.ts';

/** A clock that moves only when told to (stepping 0 ms per reading). */
function fixedClock() {
  const clock = steppingClock(Date.parse('2026-01-01T00:00:00Z'), 0);
  return { now: clock, advance: clock.advance };
}

describe('web services', () => {
  let store: Store;
  let users: UserService;
  before(async () => {
    store = await openTestStore('web');
    users = new UserService(store);
  });
  after(() => store.close());

  it('SessionService stores only a hash of the cookie secret and resolves it to the user', async () => {
    const user = await users.create('s1@example.com', 'password-1');
    const sessions = new SessionService(store);
    const session = await sessions.create(user.id, 'test-agent');
    const row = await store.db.selectFrom('sessions').selectAll().where('user_id', '=', user.id).executeTakeFirstOrThrow();
    assert.equal(row.id, hashSecret(session.secret));
    assert.notEqual(row.id, session.secret);
    assert.equal(row.user_agent, 'test-agent');
    const principal = await sessions.authenticate(session.secret);
    assert.equal(principal?.userId, user.id);
    assert.equal(principal?.email, 's1@example.com');
    assert.equal(principal?.csrfToken, session.csrfToken);
    assert.equal(await sessions.authenticate('not-a-session'), undefined);
    assert.equal(await sessions.authenticate(''), undefined);
  });

  it('SessionService slides the idle expiry while used, caps it at the absolute lifetime, and expires idle sessions', async () => {
    const user = await users.create('s2@example.com', 'password-1');
    const clock = fixedClock();
    const sessions = new SessionService(store, { idleMs: 60 * 60_000, absoluteMs: 3 * 60 * 60_000, touchIntervalMs: 60_000 }, clock.now);
    const session = await sessions.create(user.id);
    // Used every 50 minutes: stays alive past the 1 h idle limit...
    for (let i = 0; i < 3; i++) {
      clock.advance(50 * 60_000);
      assert.ok(await sessions.authenticate(session.secret), `alive after ${(i + 1) * 50} min`);
    }
    // ...but never past the 3 h absolute lifetime.
    clock.advance(50 * 60_000);
    assert.equal(await sessions.authenticate(session.secret), undefined);

    const idle = await sessions.create(user.id);
    clock.advance(61 * 60_000);
    assert.equal(await sessions.authenticate(idle.secret), undefined);
    const left = await store.db.selectFrom('sessions').select('id').where('id', '=', hashSecret(idle.secret)).executeTakeFirst();
    assert.equal(left, undefined, 'an expired session row is deleted when seen');
  });

  it('SessionService.destroy ends a session at once', async () => {
    const user = await users.create('s3@example.com', 'password-1');
    const sessions = new SessionService(store);
    const session = await sessions.create(user.id);
    await sessions.destroy(session.sessionId);
    assert.equal(await sessions.authenticate(session.secret), undefined);
  });

  it('LoginThrottle counts per (account, address) and per address before the check, and only slows an account under attack down', async () => {
    const clock = fixedClock();
    const waits: number[] = [];
    const options = { pairLimit: 5, addressLimit: 20, accountSlowAfter: 10, windowMs: 15 * 60_000, delayMs: 1000, delayMaxMs: 8000 };
    const throttle = new LoginThrottle(store, options, { clock: clock.now, wait: async (ms) => void waits.push(ms) });
    for (let i = 0; i < 5; i++) await throttle.begin('Victim@Example.com', '10.0.0.1');
    const blocked = await throttle.begin('victim@example.com', '10.0.0.1').catch((e: unknown) => e);
    assert.ok(blocked instanceof LoginThrottledError, 'the sixth attempt from the same address is refused, whatever the email case');
    assert.equal(blocked.scope, 'pair');
    assert.ok(blocked.retryAfterSeconds > 0 && blocked.retryAfterSeconds <= 15 * 60);
    assert.ok(await throttle.begin('victim@example.com', '10.0.0.99'), 'the same account from another address is not refused');
    assert.ok(await throttle.begin('other@example.com', '10.0.0.1'), 'another account from the first address is not refused');

    clock.advance(15 * 60_000);
    assert.ok(await throttle.begin('victim@example.com', '10.0.0.1'), 'the window passes');

    for (let i = 0; i < 20; i++) await throttle.begin(`user${i}@example.com`, '10.0.0.2');
    const byAddress = await throttle.begin('fresh@example.com', '10.0.0.2').catch((e: unknown) => e);
    assert.ok(byAddress instanceof LoginThrottledError && byAddress.scope === 'address');
    assert.ok(await throttle.begin('fresh@example.com', '10.0.0.3'));

    // A distributed attack: 10 failures from 10 addresses set no wait; each further attempt on the account waits longer.
    clock.advance(15 * 60_000);
    waits.length = 0;
    for (let i = 0; i < 10; i++) await throttle.begin('target@example.com', `10.9.0.${i}`);
    assert.deepEqual(waits, []);
    for (let i = 0; i < 5; i++) await throttle.begin('target@example.com', `10.9.1.${i}`);
    assert.deepEqual(waits, [1000, 2000, 4000, 8000, 8000], 'doubling up to the cap, never a refusal');
    const success = await throttle.begin('target@example.com', '10.9.2.1');
    assert.equal(success.waitedMs, 8000);
    await success.succeeded();
    const counter = await store.repos.throttleCounters.find('login:account', 'target@example.com');
    assert.equal(counter?.count, 15, 'a success is given back: the account keeps only its failures');
  });

  it('LoginThrottle: of 40 parallel attempts for one account from one address, exactly 5 go ahead', async () => {
    const throttle = new LoginThrottle(store, undefined, { clock: fixedClock().now, wait: async () => undefined });
    const results = await Promise.allSettled(Array.from({ length: 40 }, () => throttle.begin('race@example.com', '10.7.0.1')));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 5);
    assert.ok(results.every((r) => r.status === 'fulfilled' || r.reason instanceof LoginThrottledError));
  });

  it('AccountService grants sign-up credits, throttles logins and clears the pair count on success', async () => {
    const granted: [string, number, string][] = [];
    const clock = fixedClock();
    const accounts = new AccountService({
      users,
      sessions: new SessionService(store, undefined, clock.now),
      throttle: new LoginThrottle(store, { ...LOGIN_THROTTLE_DEFAULTS, pairLimit: 3 }, { clock: clock.now }),
      credits: { grant: async (userId, amount, reason) => void granted.push([userId, amount, reason]) },
      invites: new InviteService(store, clock.now),
      counters: new FixedWindowCounters(store, clock.now),
      signup: { mode: 'open', credits: 25 },
    });
    const { user, session } = await accounts.register({ email: 'a1@example.com', password: 'password-1', address: '1.2.3.4' });
    assert.deepEqual(granted, [[user.id, 25, 'Sign-up credits']]);
    assert.equal(session.userId, user.id);

    for (let i = 0; i < 2; i++) await assert.rejects(accounts.login('a1@example.com', 'wrong-pass', '1.2.3.4'), { code: 'validation_failed' });
    assert.ok(await accounts.login('a1@example.com', 'password-1', '1.2.3.4'), 'a correct password under the limit logs in');
    for (let i = 0; i < 3; i++) await assert.rejects(accounts.login('a1@example.com', 'wrong-pass', '1.2.3.4'), { code: 'validation_failed' });
    const err = await accounts.login('a1@example.com', 'password-1', '1.2.3.4').catch((e: unknown) => e);
    assert.ok(err instanceof LoginThrottledError, 'even the right password is refused from the throttled address');
    assert.equal(err.status, 429);
    assert.ok(err.retryAfterSeconds >= 1);
    assert.ok(await accounts.login('a1@example.com', 'password-1', '5.6.7.8'), 'the owner logs in from another address');
  });
});
