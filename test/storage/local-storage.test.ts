import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isValidKey } from '../../src/storage/file-storage.ts';
import { LocalFileStorage } from '../../src/storage/local-storage.ts';

describe('LocalFileStorage', () => {
  let dir: string;
  let storage: LocalFileStorage;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sdapi-storage-'));
    storage = new LocalFileStorage(join(dir, 'storage'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('put() writes atomically (no temp files left) and stat/read/delete round-trip', async () => {
    await storage.put('v1/a.png', Buffer.from('hello'));
    await storage.put('v1/a.png', Buffer.from('hello again'));
    assert.equal((await readFile(join(dir, 'storage/v1/a.png'))).toString(), 'hello again');
    assert.deepEqual(await readdir(join(dir, 'storage/v1')), ['a.png']);
    assert.equal((await storage.stat('v1/a.png'))?.size, 11);
    assert.equal((await storage.read('v1/a.png')).toString(), 'hello again');
    await storage.delete('v1/a.png');
    await storage.delete('v1/a.png');
    assert.equal(await storage.stat('v1/a.png'), undefined);
  });

  it('put() accepts the content-type option (files carry none) and keeps the two-argument call', async () => {
    await storage.put('v1/typed.png', Buffer.from('typed'), { contentType: 'image/png', cacheControl: 'no-cache' });
    await storage.put('v1/plain.png', Buffer.from('plain'));
    assert.equal((await storage.read('v1/typed.png')).toString(), 'typed');
    assert.equal((await storage.read('v1/plain.png')).toString(), 'plain');
  });

  it('openReadStream() streams the file or an inclusive range; undefined when missing, a folder or invalid', async () => {
    const bytes = Buffer.from('0123456789');
    await storage.put('v2/r.png', bytes);
    const collect = async (s: AsyncIterable<Buffer>) => {
      const chunks: Buffer[] = [];
      for await (const c of s) chunks.push(c);
      return Buffer.concat(chunks).toString();
    };
    const whole = await storage.openReadStream('v2/r.png');
    assert.ok(whole);
    assert.equal(await collect(whole), '0123456789');
    const part = await storage.openReadStream('v2/r.png', { start: 2, end: 5 });
    assert.ok(part);
    assert.equal(await collect(part), '2345');
    assert.equal(await collect(storage.createReadStream('v2/r.png', { start: 9, end: 9 })), '9');
    assert.equal(await storage.openReadStream('v2/missing.png'), undefined);
    assert.equal(await storage.openReadStream('v2'), undefined, 'a folder is not a file');
    assert.equal(await storage.openReadStream('v2/r.png/x.png'), undefined);
    assert.equal(await storage.openReadStream('../outside.png'), undefined);
  });

  it('deleteMany() removes every listed file, ignores missing ones and checks all keys first', async () => {
    const keys = Array.from({ length: 70 }, (_, i) => `v3/${i}.png`);
    await Promise.all(keys.map((k) => storage.put(k, Buffer.from(k))));
    await storage.put('v3/keep.png', Buffer.from('keep'));
    await assert.rejects(storage.deleteMany([keys[0], '../outside.png']), /not a valid key/);
    assert.equal((await storage.stat(keys[0]))?.size, keys[0].length, 'nothing deleted when a key is invalid');
    await storage.deleteMany([...keys, 'v3/never-written.png', keys[0]]);
    assert.deepEqual(await readdir(join(dir, 'storage/v3')), ['keep.png']);
    await storage.deleteMany([]);
  });

  it('rejects keys that could leave the storage folder', async () => {
    await writeFile(join(dir, 'outside.png'), 'secret');
    for (const key of ['../outside.png', 'v1/../../outside.png', '/etc/passwd', '..', '.', 'a//b', 'a\\..\\b', 'a/.hidden', '', 'a\0b.png', 'a/b/c/d/e.png']) {
      assert.equal(isValidKey(key), false, key);
      assert.equal(await storage.stat(key), undefined, key);
      await assert.rejects(storage.put(key, Buffer.from('x')), key);
      assert.throws(() => storage.createReadStream(key), key);
    }
    assert.equal((await readFile(join(dir, 'outside.png'))).toString(), 'secret');
    assert.equal(isValidKey('stablediffusion_text2img/2212c664-7d5b-4fe5-b240-1f5e46e2e70e.png.thumbnail.jpg'), true);
  });
});
