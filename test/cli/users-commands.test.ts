import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UserService } from '../../src/services/identity/users.ts';
import { openStore } from '../../src/store/database.ts';

const ROOT = resolve(import.meta.dirname, '../..');

describe('sdapi users credits', () => {
  let dataDir: string;
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, ['bin/sdapi.js', ...args], {
      cwd: ROOT,
      env: { ...process.env, SDAPI_DATA_DIR: dataDir, SDAPI_DATABASE_URL: '', DATABASE_URL: '' },
      encoding: 'utf8',
    });

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sdapi-cli-'));
    const store = await openStore(`sqlite:${join(dataDir, 'sdapi.db')}`);
    await new UserService(store).create('cli@example.com', 'password-123');
    await store.close();
  });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('adds and removes credits through the ledger', async () => {
    const add = cli('users', 'credits', '--email', 'CLI@example.com', '--add', '250');
    assert.equal(add.status, 0, add.stderr);
    assert.equal(add.stdout, 'Added 250 credits to cli@example.com; balance is now 250.\n');
    const remove = cli('users', 'credits', '--email', 'cli@example.com', '--add', '-50');
    assert.equal(remove.status, 0, remove.stderr);
    assert.match(remove.stdout, /balance is now 200\./);

    const store = await openStore(`sqlite:${join(dataDir, 'sdapi.db')}`);
    try {
      const user = await store.db.selectFrom('users').select(['id', 'credits']).where('email', '=', 'cli@example.com').executeTakeFirstOrThrow();
      assert.equal(Number(user.credits), 200);
      const ledger = await store.db.selectFrom('credit_ledger').select(['kind', 'amount', 'balance_after']).where('user_id', '=', user.id).orderBy('created_at').execute();
      assert.deepEqual(ledger.map((r) => [r.kind, Number(r.amount), Number(r.balance_after)]), [['grant', 250, 250], ['grant', -50, 200]]);
    } finally {
      await store.close();
    }
  });

  it('answers bad input with one line on stderr, `sdapi users credits: …`, and exit code 2', () => {
    for (const [args, pattern] of [
      [['users', 'credits', '--add', '5'], /required option '--email <email>' not specified/],
      [['users', 'credits', '--email', 'cli@example.com'], /required option '--add <n>' not specified/],
      [['users', 'credits', '--email', 'cli@example.com', '--add', 'ten'], /'--add <n>' argument 'ten' is invalid\. must be a non-zero whole number/],
      [['users', 'credits', '--email', 'cli@example.com', '--add', '0'], /must be a non-zero whole number/],
      [['users', 'credits', '--email', 'nobody@example.com', '--add', '5'], /No account with email nobody@example.com/],
      [['users', 'credits', '--email', 'cli@example.com', '--add', '-100000'], /balance is lower/],
      [['users', 'credits', '--email', 'cli@example.com', '--add', '5', '--bogus'], /unknown option '--bogus'/],
      [['users', 'frobnicate'], /unknown command 'frobnicate'/],
    ] as [string[], RegExp][]) {
      const res = cli(...args);
      assert.equal(res.status, 2, `${args.join(' ')}: ${res.stderr}`);
      // A command that got as far as opening the store first says which database it uses; then the one error line.
      const stderr = res.stderr.replace(/^sdapi: using database sqlite:.*\n/m, '');
      assert.match(stderr, /^sdapi users( credits)?: /);
      assert.match(stderr, pattern);
      assert.equal(stderr.trim().split('\n').length, 1, `one line: ${res.stderr}`);
      assert.equal(res.stdout, '');
    }
  });
});

describe('sdapi users set', () => {
  let dataDir: string;
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, ['bin/sdapi.js', ...args], {
      cwd: ROOT,
      env: { ...process.env, SDAPI_DATA_DIR: dataDir, SDAPI_DATABASE_URL: '', DATABASE_URL: '' },
      encoding: 'utf8',
    });

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sdapi-cli-'));
    const store = await openStore(`sqlite:${join(dataDir, 'sdapi.db')}`);
    await new UserService(store).create('sched@example.com', 'password-123');
    await store.close();
  });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('sets the priority and caps (only those given) and prints the settings', async () => {
    const all = cli('users', 'set', '--email', 'SCHED@example.com', '--priority', 'high', '--max-running', '4', '--max-queued', '50');
    assert.equal(all.status, 0, all.stderr);
    assert.equal(all.stdout, 'sched@example.com: priority high, max running 4, max queued 50 (running 0, queued 0)\n');
    const one = cli('users', 'set', '--email', 'sched@example.com', '--priority', 'low');
    assert.equal(one.status, 0, one.stderr);
    assert.equal(one.stdout, 'sched@example.com: priority low, max running 4, max queued 50 (running 0, queued 0)\n');
    const store = await openStore(`sqlite:${join(dataDir, 'sdapi.db')}`);
    try {
      const row = await store.db.selectFrom('users').select(['priority', 'max_running', 'max_queued']).where('email', '=', 'sched@example.com').executeTakeFirstOrThrow();
      assert.deepEqual({ ...row }, { priority: 'low', max_running: 4, max_queued: 50 });
    } finally {
      await store.close();
    }
  });

  it('refuses bad values with one line and exit code 2', () => {
    for (const [args, pattern] of [
      [['users', 'set', '--priority', 'high'], /required option '--email <email>' not specified/],
      [['users', 'set', '--email', 'sched@example.com', '--priority', 'urgent'], /must be one of high, normal, low/],
      [['users', 'set', '--email', 'sched@example.com', '--max-running', '0'], /must be a whole number between 1 and 1000/],
      [['users', 'set', '--email', 'sched@example.com', '--max-queued', '-1'], /must be a whole number between 0 and 100000/],
      [['users', 'set', '--email', 'nobody@example.com', '--priority', 'low'], /No account with email nobody@example.com/],
    ] as [string[], RegExp][]) {
      const res = cli(...args);
      assert.equal(res.status, 2, `${args.join(' ')}: ${res.stderr}`);
      const stderr = res.stderr.replace(/^sdapi: using database sqlite:.*\n/m, '');
      assert.match(stderr, pattern);
      assert.equal(stderr.trim().split('\n').length, 1, `one line: ${res.stderr}`);
      assert.equal(res.stdout, '');
    }
  });
});
