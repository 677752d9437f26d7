import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Store } from '../../src/store/database.ts';
import { openTestStore } from '../helpers/scale-out.ts';
import { hashSecret } from '../../src/services/identity/secrets.ts';
import { UserService } from '../../src/services/identity/users.ts';
import { steppingClock } from '../helpers/clock.ts';
import { AccountService, LoginThrottledError } from '../../src/services/web/accounts.ts';
import { LoginThrottle } from '../../src/services/web/login-throttle.ts';
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

  it('LoginThrottle refuses an account after 5 failures and an address after 20, until the window passes', async () => {
    const clock = fixedClock();
    const throttle = new LoginThrottle(store, { accountLimit: 5, addressLimit: 20, windowMs: 15 * 60_000 }, clock.now);
    for (let i = 0; i < 5; i++) {
      assert.deepEqual(await throttle.check('Victim@Example.com', '10.0.0.1'), { allowed: true });
      await throttle.recordFailure('Victim@Example.com', '10.0.0.1');
      clock.advance(1000);
    }
    const blocked = await throttle.check('victim@example.com', '10.0.0.99');
    assert.equal(blocked.allowed, false, 'the account is blocked from any address, whatever the email case');
    assert.equal(!blocked.allowed && blocked.scope, 'account');
    assert.ok(!blocked.allowed && blocked.retryAfterSeconds > 0 && blocked.retryAfterSeconds <= 15 * 60);
    assert.deepEqual(await throttle.check('other@example.com', '10.0.0.1'), { allowed: true }, 'the address is not blocked yet');

    clock.advance(15 * 60_000);
    assert.deepEqual(await throttle.check('victim@example.com', '10.0.0.1'), { allowed: true }, 'failures leave the window');

    for (let i = 0; i < 20; i++) await throttle.recordFailure(`user${i}@example.com`, '10.0.0.2');
    const byAddress = await throttle.check('fresh@example.com', '10.0.0.2');
    assert.equal(!byAddress.allowed && byAddress.scope, 'address');
    assert.deepEqual(await throttle.check('fresh@example.com', '10.0.0.3'), { allowed: true });
  });

  it('AccountService grants sign-up credits, throttles failed logins and clears the account count on success', async () => {
    const granted: [string, number, string][] = [];
    const clock = fixedClock();
    const accounts = new AccountService({
      users,
      sessions: new SessionService(store, undefined, clock.now),
      throttle: new LoginThrottle(store, { accountLimit: 3, addressLimit: 100, windowMs: 60_000 }, clock.now),
      credits: { grant: async (userId, amount, reason) => void granted.push([userId, amount, reason]) },
      signupCredits: 25,
    });
    const { user, session } = await accounts.register('a1@example.com', 'password-1');
    assert.deepEqual(granted, [[user.id, 25, 'Sign-up credits']]);
    assert.equal(session.userId, user.id);

    for (let i = 0; i < 2; i++) await assert.rejects(accounts.login('a1@example.com', 'wrong-pass', '1.2.3.4'), { code: 'validation_failed' });
    assert.ok(await accounts.login('a1@example.com', 'password-1', '1.2.3.4'), 'a correct password under the limit logs in');
    for (let i = 0; i < 3; i++) await assert.rejects(accounts.login('a1@example.com', 'wrong-pass', '1.2.3.4'), { code: 'validation_failed' });
    const err = await accounts.login('a1@example.com', 'password-1', '1.2.3.4').catch((e: unknown) => e);
    assert.ok(err instanceof LoginThrottledError, 'even the right password is refused while throttled');
    assert.equal(err.status, 429);
    assert.ok(err.retryAfterSeconds >= 1);
  });
});
