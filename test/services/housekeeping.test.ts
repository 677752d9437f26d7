import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InviteService } from '../../src/services/identity/invites.ts';
import { passwordProblems } from '../../src/services/identity/password-policy.ts';
import { ApplicationService } from '../../src/services/identity/applications.ts';
import { UserService } from '../../src/services/identity/users.ts';
import { FixedWindowCounters } from '../../src/services/limits/fixed-window-counters.ts';
import { Housekeeping, REVOKED_TOKEN_RETENTION_MS } from '../../src/services/ops/housekeeping.ts';
import { SessionService } from '../../src/services/web/sessions.ts';
import type { Store } from '../../src/store/database.ts';
import { steppingClock } from '../helpers/clock.ts';
import { openTestStore } from '../helpers/scale-out.ts';

const DAY = 24 * 3600_000;

describe('housekeeping sweep', () => {
  let store: Store;
  before(async () => {
    store = await openTestStore('housekeeping');
  });
  after(() => store.close());

  it('purges tokens revoked over 30 days ago, expired sessions and ended throttle windows; keeps everything live', async () => {
    const clock = steppingClock(Date.parse('2031-01-01T00:00:00Z'), 0);
    const user = await new UserService(store, clock).create('sweep@example.com', 'a-long-password');
    const apps = new ApplicationService(store, clock);
    const app = await apps.create(user.id, 'sweep');
    const old = await apps.createToken(user.id, app.id, 'revoked long ago');
    const recent = await apps.createToken(user.id, app.id, 'revoked lately');
    const live = await apps.createToken(user.id, app.id, 'live');
    await apps.revokeToken(user.id, app.id, old.id);
    clock.advance(2 * DAY);
    await apps.revokeToken(user.id, app.id, recent.id);
    const sessions = new SessionService(store, { idleMs: DAY, absoluteMs: 7 * DAY, touchIntervalMs: 60_000 }, clock);
    const stale = await sessions.create(user.id);
    const counters = new FixedWindowCounters(store, clock);
    const policy = { scope: 'test:sweep', limit: 5, windowMs: 3600_000 };
    await counters.hit(policy, 'old-address');

    clock.advance(REVOKED_TOKEN_RETENTION_MS - DAY); // 29 days after the recent revocation, 31 after the old one
    const fresh = await sessions.create(user.id);
    await counters.hit(policy, 'new-address');
    const sweep = new Housekeeping({ store, counterPolicies: [policy], clock });
    assert.deepEqual(await sweep.sweep(), { revokedTokens: 1, expiredSessions: 1, throttleCounters: 1, idempotencyKeys: 0, webhookDeliveries: 0, entryEvents: 0 });
    const tokens = (await apps.listTokens(user.id, app.id)).map((t) => t.name).sort();
    assert.deepEqual(tokens, ['live', 'revoked lately']);
    assert.ok(tokens.includes('live') && live.id);
    assert.equal(await sessions.authenticate(stale.secret), undefined);
    assert.ok(await sessions.authenticate(fresh.secret));
    assert.ok(await store.repos.throttleCounters.find('test:sweep', 'new-address'));
    assert.equal(await store.repos.throttleCounters.find('test:sweep', 'old-address'), undefined);
    assert.deepEqual(await sweep.sweep(), { revokedTokens: 0, expiredSessions: 0, throttleCounters: 0, idempotencyKeys: 0, webhookDeliveries: 0, entryEvents: 0 }, 'a second sweep finds nothing');
  });

  it('fixed-window counters: concurrent hits get distinct counts, a new window starts from 1, give-back and reset', async () => {
    const clock = steppingClock(Date.parse('2031-02-01T00:00:00Z'), 0);
    const counters = new FixedWindowCounters(store, clock);
    const policy = { scope: 'test:window', limit: 3, windowMs: 60_000 };
    const hits = await Promise.all(Array.from({ length: 10 }, () => counters.hit(policy, 's')));
    assert.deepEqual(hits.map((x) => x.count).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.equal(hits.filter((x) => x.allowed).length, 3);
    assert.ok(hits.every((x) => x.retryAfterSeconds === 60));
    clock.advance(59_000);
    const late = await counters.hit(policy, 's');
    assert.equal(late.count, 11);
    assert.equal(late.retryAfterSeconds, 1);
    clock.advance(1000);
    const next = await counters.hit(policy, 's');
    assert.deepEqual([next.count, next.allowed, next.retryAfterSeconds], [1, true, 60]);
    await counters.giveBack(policy, 's', next);
    assert.equal((await counters.hit(policy, 's')).count, 1);
    await counters.giveBack(policy, 's', late); // a hit of an ended window takes nothing from the new one
    assert.equal((await counters.hit(policy, 's')).count, 2);
    await counters.reset(policy, 's');
    assert.equal((await counters.hit(policy, 's')).count, 1);
  });

  it('invites: codes are hashed, uses are counted atomically, and release gives one back', async () => {
    const clock = steppingClock(Date.parse('2031-03-01T00:00:00Z'), 0);
    const invites = new InviteService(store, clock);
    const invite = await invites.create({ uses: 3, credits: 7, expiresInMs: DAY });
    assert.match(invite.code, /^inv_[\w-]{24}$/);
    const results = await Promise.all(Array.from({ length: 6 }, () => invites.redeem(invite.code)));
    assert.equal(results.filter(Boolean).length, 3);
    assert.deepEqual(results.find(Boolean), { id: invite.id, credits: 7 });
    await invites.release(invite.id);
    assert.ok(await invites.redeem(` ${invite.code} `), 'a released use can be taken again (spaces around a pasted code are ignored)');
    assert.equal(await invites.redeem(invite.code), undefined);
    assert.equal(await invites.redeem(''), undefined);
    assert.equal(await invites.redeem('x'.repeat(5000)), undefined);
    await assert.rejects(invites.create({ uses: 0 }), { code: 'validation_failed' });
    await assert.rejects(invites.revoke('not-a-uuid'), { code: 'not_found' });
  });

  it('password policy: length in characters, the breach list case-insensitively, the email and its name, repeated characters', async () => {
    assert.deepEqual(await passwordProblems('correct horse battery'), []);
    assert.deepEqual(await passwordProblems('😀😁😂🤣😃😄😅😆😉😊'), [], '10 emoji are 10 characters');
    assert.match((await passwordProblems('😀😁😂🤣😃😄😅😆😉'))[0], /between 10 and 256/);
    assert.match((await passwordProblems('x'.repeat(257)))[0], /between 10 and 256/);
    assert.match((await passwordProblems('BASEBALL12'))[0], /most common/);
    assert.match((await passwordProblems('Ada.Lovelace', { email: 'ada.lovelace@example.com' }))[0], /email/);
    assert.match((await passwordProblems('ada.lovelace@example.com', { email: 'Ada.Lovelace@Example.com' }))[0], /email/);
    assert.match((await passwordProblems('zzzzzzzzzzzz'))[0], /too easy/);
    assert.match((await passwordProblems('StableDiffusion'))[0], /too easy/);
  });
});
