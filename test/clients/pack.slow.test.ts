/**
 * `npm pack` of clients/typescript makes a tarball that installs and runs: built (prepack), with its types, importable
 * as @sdapi/client from plain JavaScript. Offline: the tarball is unpacked into a scratch node_modules, next to the
 * one dependency (openapi-fetch) linked from the project's node_modules.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { projectRoot } from '../../src/config/load-config.ts';

describe('npm pack of @sdapi/client', () => {
  it('makes a tarball that installs and imports', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sdapi-pack-'));
    try {
      execFileSync('npm', ['pack', '--pack-destination', dir], { cwd: join(projectRoot, 'clients/typescript'), stdio: 'pipe' });
      const [tarball] = (await readdir(dir)).filter((f) => f.endsWith('.tgz'));
      assert.ok(tarball, 'a tarball');
      const target = join(dir, 'app/node_modules/@sdapi/client');
      await mkdir(target, { recursive: true });
      execFileSync('tar', ['xzf', join(dir, tarball), '-C', target, '--strip-components=1']);
      const files = await readdir(join(target, 'dist'));
      for (const f of ['index.js', 'index.d.ts', 'webhooks.js', 'schema.d.ts']) assert.ok(files.includes(f), f);
      await symlink(join(projectRoot, 'node_modules/openapi-fetch'), join(dir, 'app/node_modules/openapi-fetch'));
      await writeFile(join(dir, 'app/package.json'), '{"type": "module"}');
      await writeFile(
        join(dir, 'app/check.js'),
        `import { SdapiClient, SdapiValidationError, verifyWebhook } from '@sdapi/client';
const client = new SdapiClient({ baseUrl: 'http://127.0.0.1:9', token: 't' });
const body = await verifyWebhook('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', '{"test": 2432232314}', { 'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek', 'webhook-timestamp': '1614265330', 'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=' }, { now: new Date(1614265330000) });
console.log(JSON.stringify({ generate: typeof client.generate, error: typeof SdapiValidationError, body }));`,
      );
      const out = execFileSync(process.execPath, ['check.js'], { cwd: join(dir, 'app'), encoding: 'utf8' });
      assert.deepEqual(JSON.parse(out), { generate: 'function', error: 'function', body: { test: 2432232314 } });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
