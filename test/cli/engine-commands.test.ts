import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '../..');
const bin = join(root, 'bin', 'sdapi.js');
const sd1 = join(root, 'models', 'tiny', 'sd1');
const sdxl = join(root, 'models', 'tiny', 'sdxl');

function sdapi(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('sdapi generate writes PNGs, prints their paths, and is reproducible by seed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sdapi-cli-'));
  try {
    const common = ['generate', '--model', sd1, '--prompt', 'a cat', '--steps', '2', '--width', '32', '--height', '40'];
    const a = sdapi(...common, '--seed', '5', '--output', join(dir, 'a.png'));
    assert.equal(a.status, 0, a.stderr);
    assert.equal(a.stdout, `${join(dir, 'a.png')}\n`);
    const b = sdapi(...common, '--seed', '5', '--output', join(dir, 'b.png'));
    const c = sdapi(...common, '--seed', '6', '--images', '2', '--output', join(dir, 'c.png'));
    assert.equal(c.status, 0, c.stderr);
    assert.deepEqual(c.stdout.trim().split('\n'), [join(dir, 'c-0.png'), join(dir, 'c-1.png')]);
    const png = (name: string): Buffer => readFileSync(join(dir, name));
    assert.deepEqual(png('a.png').subarray(1, 4).toString(), 'PNG');
    assert.ok(png('a.png').equals(png('b.png')), 'same seed -> byte-identical PNG');
    assert.ok(!png('a.png').equals(png('c-0.png')), 'different seed -> different PNG');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sdapi generate --seed 0 (or no --seed) uses a random seed and reports it on stderr', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sdapi-cli-'));
  try {
    const r = sdapi('generate', '--model', sd1, '--prompt', 'a cat', '--steps', '1', '--width', '8', '--height', '8', '--seed', '0', '--output', join(dir, 'r.png'));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${join(dir, 'r.png')}\n`);
    const m = /^sdapi generate: seed (\d+)$/m.exec(r.stderr);
    assert.ok(m, r.stderr);
    assert.ok(Number(m[1]) > 0);
    const again = sdapi('generate', '--model', sd1, '--prompt', 'a cat', '--steps', '1', '--width', '8', '--height', '8', '--seed', m[1], '--output', join(dir, 's.png'));
    assert.equal(again.status, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /seed/, 'an explicit seed is not reported');
    assert.match(again.stderr, /^sdapi generate: image 1\/1 done \(1 steps\)$/m, 'progress as plain lines when stderr is not a terminal');
    assert.ok(readFileSync(join(dir, 'r.png')).equals(readFileSync(join(dir, 's.png'))), 'the reported seed reproduces the image');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sdapi tokenize prints the padded ids of the first tokenizer as one JSON array', () => {
  const r = sdapi('tokenize', '--model', sdxl, 'a cat');
  assert.equal(r.status, 0, r.stderr);
  const ids = JSON.parse(r.stdout) as number[];
  assert.equal(ids.length, 77);
  const vocab = JSON.parse(readFileSync(join(sdxl, 'tokenizer', 'vocab.json'), 'utf8')) as Record<string, number>;
  assert.equal(ids[0], vocab['<|startoftext|>']);
  // tokenizer/ (CLIP-L) pads with <|endoftext|>, unlike tokenizer_2.
  assert.equal(ids[76], vocab['<|endoftext|>']);
});

test('bad input: one line on stderr, exit code 2, no stack trace', () => {
  const cases: string[][] = [
    ['generate', '--model', join(root, 'models', 'tiny', 'nope'), '--prompt', 'x'],
    ['generate', '--model', sd1, '--prompt', 'x', '--sampler', 'warp'],
    ['generate', '--model', sd1, '--prompt', 'x', '--width', '30', '--height', '32', '--native'],
    ['generate', '--model', sd1, '--engines', join(root, 'models', 'nope.json'), '--engine', 'x', '--prompt', 'x'],
    ['generate', '--engine', 'x', '--prompt', 'x'],
    ['generate', '--model', sd1, '--prompt', 'x', '--steps', '0'],
    ['generate', '--model', sd1, '--prompt', 'x', '--steps', 'ten'],
    ['generate', '--model', sd1, '--prompt', 'x', '--cfg', 'high'],
    ['generate', '--model', sd1, '--prompt', 'x', '--bogus'],
    ['generate', '--model', sd1, '--prompt', 'x', '--sampler', 'lcm', '--steps', '1'],
    ['generate', '--prompt', 'x'],
    ['generate', '--model', sd1, '--prompt', 'x', '--device', 'tpu'],
    ['generate', '--model', sd1, '--prompt', 'x', '--images', '0'],
    ['tokenize', '--model', join(root, 'models', 'tiny', 'nope'), 'x'],
    ['tokenize', '--model', sd1],
  ];
  for (const args of cases) {
    const r = sdapi(...args);
    assert.equal(r.status, 2, `${args.join(' ')} -> ${r.status}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.ok(!/\n\s+at /.test(r.stderr), `no stack trace for ${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^sdapi (generate|tokenize): \S/);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
  }
});

test('every command and subcommand has --help; --version prints the version', () => {
  const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version as string;
  const v = sdapi('--version');
  assert.equal(v.status, 0);
  assert.equal(v.stdout.trim(), version);
  for (const command of [[], ['serve'], ['worker'], ['users'], ['users', 'create'], ['users', 'credits'], ['tokens'], ['tokens', 'create'], ['engines'], ['engines', 'check'], ['generate'], ['tokenize']]) {
    const r = sdapi(...command, '--help');
    assert.equal(r.status, 0, `${command.join(' ')} --help: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^Usage: sdapi${command.length ? ` ${command.join(' ')}` : ''} `), r.stdout);
  }
  const none = sdapi();
  assert.equal(none.status, 2, 'no command is bad input');
  assert.match(none.stderr, /^Usage: sdapi /);
  const unknown = sdapi('frobnicate');
  assert.equal(unknown.status, 2);
  assert.equal(unknown.stderr.trim(), "sdapi: unknown command 'frobnicate'");
});

test('an invalid environment is a configuration error: one line naming the variable, exit code 2', () => {
  const r = spawnSync(process.execPath, [bin, 'users', 'create', '--email', 'a@example.com', '--password', 'password-123'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, PORT: 'eighty', SDAPI_QUEUE_URL: 'kafka://x' },
  });
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /^sdapi users create: Invalid environment: PORT must be an integer between 0 and 65535, got "eighty"; SDAPI_QUEUE_URL must be "embedded" or a redis:\/\/ \(rediss:\/\/\) URL, got "kafka:\/\/x"$/m);
});
