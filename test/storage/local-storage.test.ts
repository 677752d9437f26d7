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
