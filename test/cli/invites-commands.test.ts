import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hashSecret } from '../../src/services/identity/secrets.ts';
import { openStore } from '../../src/store/database.ts';

const ROOT = resolve(import.meta.dirname, '../..');

describe('sdapi invites, and the password policy of sdapi users create', () => {
  let dataDir: string;
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, ['bin/sdapi.js', ...args], {
      cwd: ROOT,
      env: { ...process.env, SDAPI_DATA_DIR: dataDir, SDAPI_DATABASE_URL: '', DATABASE_URL: '' },
      encoding: 'utf8',
    });

  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'sdapi-cli-invites-'));
  });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('creates an invite: only the code on stdout, its hash in the store, the options applied', async () => {
    const res = cli('invites', 'create', '--credits', '250', '--uses', '3', '--expires', '7d');
    assert.equal(res.status, 0, res.stderr);
    const code = res.stdout.trim();
    assert.match(code, /^inv_[\w-]{24}$/);
    assert.equal(res.stdout, `${code}\n`);
    assert.match(res.stderr, /3 uses, 250 credits, expires \d{4}-/);
    const store = await openStore(`sqlite:${join(dataDir, 'sdapi.db')}`);
    try {
      const row = await store.db.selectFrom('invites').selectAll().executeTakeFirstOrThrow();
      assert.equal(row.code_hash, hashSecret(code));
      assert.deepEqual([Number(row.credits), Number(row.max_uses), Number(row.uses)], [250, 3, 0]);
      const days = (Date.parse(String(row.expires_at)) - Date.parse(row.created_at)) / 86_400_000;
      assert.equal(days, 7);
    } finally {
      await store.close();
    }
  });

  it('lists invites without their codes, and revokes one', () => {
    const created = cli('invites', 'create');
    assert.equal(created.status, 0, created.stderr);
    const list = cli('invites', 'list');
    assert.equal(list.status, 0, list.stderr);
    const lines = list.stdout.trim().split('\n');
    assert.equal(lines.length, 2);
    assert.ok(!list.stdout.includes(created.stdout.trim()), 'codes are never listed');
    assert.match(lines[0], /0\/1 used {2}credits default {2}no expiry {2}live$/);
    const id = lines[0].split(' ')[0];
    const revoked = cli('invites', 'revoke', '--id', id);
    assert.equal(revoked.status, 0, revoked.stderr);
    assert.match(cli('invites', 'list').stdout.split('\n')[0], /revoked$/);
    const again = cli('invites', 'revoke', '--id', id);
    assert.equal(again.status, 2);
    assert.match(again.stderr, /^sdapi invites revoke: No such invite/m);
  });

  it('answers bad options with one line and exit code 2', () => {
    for (const [args, pattern] of [
      [['invites', 'create', '--uses', '0'], /must be a whole number between 1 and 1000000/],
      [['invites', 'create', '--expires', '7'], /must be a whole number with a unit/],
      [['invites', 'create', '--credits', '-1'], /must be a whole number between 0/],
    ] as [string[], RegExp][]) {
      const res = cli(...args);
      assert.equal(res.status, 2, `${args.join(' ')}: ${res.stderr}`);
      assert.match(res.stderr, pattern);
      assert.equal(res.stderr.trim().split('\n').length, 1);
      assert.equal(res.stdout, '');
    }
  });

  it('sdapi users create refuses a weak password with exit code 2, naming the rule', () => {
    for (const [password, pattern] of [
      ['short', /between 10 and 256 characters/],
      ['password123', /most common passwords/],
      ['op@example.com', /email address/],
    ] as [string, RegExp][]) {
      const res = cli('users', 'create', '--email', 'op@example.com', '--password', password);
      assert.equal(res.status, 2, `${password}: ${res.stderr}`);
      assert.match(res.stderr, /^sdapi users create: /m);
      assert.match(res.stderr, pattern);
    }
    assert.equal(cli('users', 'create', '--email', 'op@example.com', '--password', 'a-long-password').status, 0);
  });
});
