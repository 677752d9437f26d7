/**
 * Two API processes on one Redis share one limit: two apps, each with its own runtime, rate limiter and Redis
 * connection (as two `sdapi serve --workers 0` behind a load balancer), over one database and one Redis key prefix.
 * Skips with a message when Redis is not reachable at 127.0.0.1:6379 (SDAPI_TEST_REDIS_URL).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { FastifyInstance } from 'fastify';
import { buildHttpApp, openRuntime, type Runtime } from '../../src/composition/runtime.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { REDIS_URL, redisPrefix, redisUnavailable, removeRedisKeys } from '../helpers/scale-out.ts';
import { stubGenerator } from '../web/helpers.ts';

const skip = await redisUnavailable();

describe('rate limit shared through Redis', { skip }, () => {
  const prefix = redisPrefix('ratelimit');
  let dataDir: string;
  const runtimes: Runtime[] = [];
  const apps: FastifyInstance[] = [];
  let token: string;
  let otherToken: string;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sdapi-rl-redis-'));
    const env = { SDAPI_DATA_DIR: dataDir, SDAPI_WORKERS: '0', SDAPI_QUEUE_URL: REDIS_URL, SDAPI_QUEUE_PREFIX: prefix, SDAPI_RATE_LIMIT: '10/60s' };
    for (let i = 0; i < 2; i++) {
      const runtime = await openRuntime(loadConfig(env), { generator: stubGenerator });
      runtimes.push(runtime);
      apps.push(await buildHttpApp(runtime));
    }
    const users = runtimes[0].services;
    const user = await users.users.create('shared@example.com', 'a-long-password');
    const application = await users.applications.create(user.id, 'shared');
    token = (await users.applications.createToken(user.id, application.id, 'one')).token;
    otherToken = (await users.applications.createToken(user.id, application.id, 'two')).token;
  });

  after(async () => {
    for (const app of apps) await app.close();
    for (const runtime of runtimes) await runtime.close();
    await removeRedisKeys(prefix);
    rmSync(dataDir, { recursive: true, force: true });
  });

  const get = (app: FastifyInstance, bearer: string) => app.inject({ method: 'GET', url: '/api/v1/engines', headers: { authorization: `Bearer ${bearer}` } });
  const left = (res: { headers: Record<string, unknown> }) => Number(/;r=(\d+);/.exec(String(res.headers.ratelimit))?.[1]);

  it('requests to either process count against one quota, and the next one past it is refused by both', async () => {
    const seen: [number, number][] = [];
    for (let i = 0; i < 10; i++) {
      const res = await get(apps[i % 2], token);
      seen.push([res.statusCode, left(res)]);
    }
    assert.deepEqual(seen, [9, 8, 7, 6, 5, 4, 3, 2, 1, 0].map((r) => [200, r]), 'one countdown across both processes');
    assert.equal((await get(apps[0], token)).statusCode, 429);
    assert.equal((await get(apps[1], token)).statusCode, 429);
    const other = await get(apps[1], otherToken);
    assert.equal(other.statusCode, 200, 'another token has its own quota');
    assert.equal(left(other), 9);
  });

  it('the counters are Redis keys under the configured prefix', async () => {
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    try {
      const keys = await redis.keys(`${prefix}:rl:default:*`);
      assert.equal(keys.length, 2, keys.join(', '));
      assert.ok(keys.every((k) => /:t:[0-9a-f-]{36}$/.test(k)), 'keyed by token id, never by the token itself');
      const ttl = await redis.pttl(keys[0]);
      assert.ok(ttl > 0 && ttl <= 60_000, `expires with its window (${ttl} ms)`);
    } finally {
      redis.disconnect();
    }
  });
});
