import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

test('sdapi generate --init-image --strength --mask (--mask-source, --mask-blur): image-to-image and inpainting from files', async () => {
  const { default: sharp } = await import('sharp');
  const dir = mkdtempSync(join(tmpdir(), 'sdapi-cli-'));
  const W = 64;
  const H = 48;
  const inRect = (p: number) => p % W >= 16 && p % W < 40 && Math.floor(p / W) >= 8 && Math.floor(p / W) < 32;
  try {
    const rgb = Buffer.alloc(W * H * 3);
    for (let p = 0; p < W * H; p++) rgb.set([(p % W) * 4, Math.floor(p / W) * 5, inRect(p) ? 240 : 60], p * 3);
    const mask = Buffer.from(Array.from({ length: W * H }, (_, p) => (inRect(p) ? 255 : 0)));
    const rgba = Buffer.alloc(W * H * 4);
    for (let p = 0; p < W * H; p++) rgba.set([rgb[p * 3], rgb[p * 3 + 1], rgb[p * 3 + 2], inRect(p) ? 0 : 255], p * 4);
    await sharp(rgb, { raw: { width: W, height: H, channels: 3 } }).png().toFile(join(dir, 'init.png'));
    await sharp(rgba, { raw: { width: W, height: H, channels: 4 } }).png().toFile(join(dir, 'hole.png'));
    await sharp(mask, { raw: { width: W, height: H, channels: 1 } }).png().toFile(join(dir, 'white.png'));
    await sharp(Buffer.from(mask.map((v) => 255 - v)), { raw: { width: W, height: H, channels: 1 } }).png().toFile(join(dir, 'black.png'));
    const inpaint = join(root, 'models', 'tiny', 'sd1-inpaint');
    const common = ['generate', '--model', inpaint, '--prompt', 'a cat', '--steps', '4', '--seed', '3', '--native', '--init-image', join(dir, 'init.png'), '--strength', '1'];
    const runs = {
      white: sdapi(...common, '--mask', join(dir, 'white.png'), '--output', join(dir, 'w.png')),
      black: sdapi(...common, '--mask', join(dir, 'black.png'), '--mask-source', 'black', '--output', join(dir, 'b.png')),
      alpha: sdapi(...common.map((a) => (a === join(dir, 'init.png') ? join(dir, 'hole.png') : a)), '--mask-source', 'alpha', '--output', join(dir, 'a.png')),
      blurred: sdapi(...common, '--mask', join(dir, 'white.png'), '--mask-blur', '4', '--output', join(dir, 'blur.png')),
    };
    for (const [name, r] of Object.entries(runs)) assert.equal(r.status, 0, `${name}: ${r.stderr}`);
    const pixels = async (name: string) => sharp(join(dir, name)).raw().toBuffer({ resolveWithObject: true });
    const white = await pixels('w.png');
    assert.deepEqual([white.info.width, white.info.height], [W, H], 'the init image’s size');
    let kept = 0;
    let repainted = 0;
    for (let p = 0; p < W * H; p++) for (let c = 0; c < 3; c++) (inRect(p) ? (repainted += Math.abs(white.data[p * 3 + c] - rgb[p * 3 + c])) : (kept += Math.abs(white.data[p * 3 + c] - rgb[p * 3 + c])));
    assert.ok(kept / ((W * H - 24 * 24) * 3) < 12, 'the unmasked region is kept');
    assert.ok(repainted / (24 * 24 * 3) > 20, 'the masked region is repainted');
    assert.deepEqual((await pixels('b.png')).data, white.data, '--mask-source black with the inverted mask');
    assert.deepEqual((await pixels('a.png')).data, white.data, '--mask-source alpha');
    assert.notDeepEqual((await pixels('blur.png')).data, white.data, '--mask-blur changes the mask');

    const img2img = sdapi('generate', '--model', sd1, '--prompt', 'a cat', '--steps', '20', '--sampler', 'euler', '--init-image', join(dir, 'init.png'), '--strength', '0.05', '--output', join(dir, 'i.png'));
    assert.equal(img2img.status, 0, img2img.stderr);
    assert.match(img2img.stderr, /done \(1 steps\)/, 'strength 0.05 of 20 steps runs one');
    const noStep = sdapi('generate', '--model', sd1, '--prompt', 'a cat', '--steps', '20', '--init-image', join(dir, 'init.png'), '--strength', '0.01');
    assert.equal(noStep.status, 2);
    assert.match(noStep.stderr, /leaves no denoising step/);
    writeFileSync(join(dir, 'bad.png'), readFileSync(join(dir, 'init.png')).subarray(0, 60));
    for (const args of [
      ['--init-image', join(dir, 'bad.png')],
      ['--init-image', join(dir, 'missing.png')],
      ['--mask', join(dir, 'white.png')],
      ['--init-image', join(dir, 'init.png'), '--mask-source', 'alpha'],
      ['--init-image', join(dir, 'init.png'), '--mask-source', 'black'],
      ['--init-image', join(dir, 'init.png'), '--strength', '1.5'],
      ['--init-image', join(dir, 'init.png'), '--mask', join(dir, 'white.png'), '--mask-blur', '65'],
    ]) {
      const r = sdapi('generate', '--model', sd1, '--prompt', 'x', ...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    }
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
