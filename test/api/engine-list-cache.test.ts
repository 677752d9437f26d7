import assert from 'node:assert/strict';
import { join } from 'node:path';
import { it } from 'node:test';
import { EngineListCache } from '../../src/api/engine-list-cache.ts';
import { projectRoot } from '../../src/config/project-root.ts';
import type { EngineLoad } from '../../src/services/fleet/fleet-status.ts';
import { EngineCatalog } from '../../src/services/generation/engine-catalog.ts';
import { resolveEngines } from '../../src/services/generation/engine-registry.ts';

it('GET /engines: serialised once, the fleet part refreshed in the background at most once per second', async () => {
  const engines = new EngineCatalog(
    await resolveEngines({ label: 'test', baseDir: projectRoot, entries: [{ id: 'a', model: join(projectRoot, 'models/tiny/sd1') }] }, { device: 'cpu' }),
  );
  let now = 1_000_000;
  let calls = 0;
  let load: Map<string, EngineLoad> = new Map([['a', { workers: 1, queued: 3, devices: ['cpu'] }]]);
  const fleet = {
    engineLoad: async () => {
      calls += 1;
      return load;
    },
  };
  const cache = new EngineListCache(engines, fleet, { now: () => now });
  const view = async () => (JSON.parse(await cache.json()) as { data: Record<string, unknown>[] }).data[0];
  assert.deepEqual([(await view()).workers, (await view()).queued, (await view()).device], [1, 3, 'cpu']);
  assert.equal(calls, 1, 'the first request builds the list; the next ones read it');
  const body = await cache.json();
  assert.equal(await cache.json(), body, 'the same string');

  load = new Map([['a', { workers: 2, queued: 0, devices: ['cpu', 'cuda:0'] }]]);
  now += 999;
  await cache.json();
  assert.equal(calls, 1, 'younger than a second: no database read');
  now += 1;
  const stale = await Promise.all([cache.json(), cache.json(), cache.json()]);
  assert.deepEqual(stale, [body, body, body], 'a stale list is served as it is while it refreshes');
  await new Promise((r) => setImmediate(r));
  assert.equal(calls, 2, 'one refresh for all the stale requests');
  assert.deepEqual([(await view()).workers, (await view()).queued, (await view()).device], [2, 0, 'cpu, cuda:0']);

  // A failing fleet read keeps the last numbers.
  fleet.engineLoad = async () => {
    throw new Error('database down');
  };
  now += 5000;
  await cache.refresh();
  assert.equal((await view()).workers, 2);
});
