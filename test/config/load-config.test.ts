import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/config/config-error.ts';
import { EnvSchema } from '../../src/config/env-schema.ts';
import { totalmem } from 'node:os';
import { defaultModelMemory, loadConfig, parseBytes, parseDuration, projectRoot } from '../../src/config/load-config.ts';

describe('loadConfig()', () => {
  it('gives the documented defaults for an empty environment', () => {
    const config = loadConfig({});
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.port, 8080);
    assert.equal(config.dataDir, `${projectRoot}/data`);
    assert.equal(config.databaseUrl, `sqlite:${projectRoot}/data/sdapi.db`);
    assert.equal(config.databasePoolSize, 10);
    assert.equal(config.publicUrl, 'http://127.0.0.1:8080');
    assert.equal(config.publicUrlConfigured, false);
    assert.equal(config.workers, 1);
    assert.equal(config.queueUrl, undefined);
    assert.equal(config.jobLeaseMs, 30_000);
    assert.equal(config.trustProxy, false);
    assert.equal(config.logLevel, 'info');
    assert.equal(config.enginesFile, undefined);
    assert.equal(config.defaultModelDir, `${projectRoot}/models/demo`);
    assert.equal(config.device, 'cpu');
    assert.equal(config.deviceStrict, false);
    assert.equal(config.workersPerHost, 1);
    assert.equal(config.modelMemoryBytes, Math.floor(totalmem() * 0.75));
    assert.equal(config.queueTimeoutMs, 3_600_000);
  });

  it('fleet variables: the registry, the device, the model memory budget and the queue timeout', () => {
    const config = loadConfig({ SDAPI_ENGINES: 'conf/engines.json', SDAPI_DEVICE: 'cuda:1', SDAPI_DEVICE_STRICT: '1', SDAPI_WORKERS_PER_HOST: '4', SDAPI_QUEUE_TIMEOUT: '30m' });
    assert.equal(config.enginesFile, `${process.cwd()}/conf/engines.json`);
    assert.equal(config.device, 'cuda:1');
    assert.equal(config.deviceStrict, true);
    assert.equal(config.modelMemoryBytes, defaultModelMemory(4), 'the default is shared by the worker processes of the host');
    assert.equal(defaultModelMemory(4, 16 * 1024 ** 3), 3 * 1024 ** 3);
    assert.equal(config.queueTimeoutMs, 30 * 60_000);
    assert.equal(loadConfig({ SDAPI_MODEL_MEMORY: '12G', SDAPI_WORKERS_PER_HOST: '4' }).modelMemoryBytes, 12 * 1024 ** 3, 'an explicit budget is per process');
    assert.deepEqual(['1000', '512M', '1.5GiB', '2GB', '3 T'].map(parseBytes), [1000, 512 * 1024 ** 2, 1.5 * 1024 ** 3, 2 * 1024 ** 3, 3 * 1024 ** 4]);
    assert.deepEqual(['90', '90s', '250ms', '2m', '2min', '1h', '1d'].map(parseDuration), [90_000, 90_000, 250, 120_000, 120_000, 3_600_000, 86_400_000]);
    assert.throws(
      () => loadConfig({ SDAPI_DEVICE: 'gpu', SDAPI_DEVICE_STRICT: 'yes', SDAPI_MODEL_MEMORY: 'lots', SDAPI_QUEUE_TIMEOUT: '1 hour', SDAPI_WORKERS_PER_HOST: '0' }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.deepEqual(err.problems, [
          'SDAPI_DEVICE must be cpu, cuda or cuda:N, got "gpu"',
          'SDAPI_DEVICE_STRICT must be 0, 1, true or false, got "yes"',
          'SDAPI_MODEL_MEMORY must be a number of bytes, optionally with K, M, G or T (e.g. 12G), got "lots"',
          'SDAPI_WORKERS_PER_HOST must be an integer between 1 and 1024, got "0"',
          'SDAPI_QUEUE_TIMEOUT must be a duration such as 90s, 30m or 1h, got "1 hour"',
        ]);
        return true;
      },
    );
  });

  it('reads every variable it knows, treats empty values as unset and ignores the rest', () => {
    const config = loadConfig({
      HOST: '0.0.0.0',
      PORT: '9000',
      SDAPI_DATA_DIR: '/srv/sdapi',
      SDAPI_DATABASE_URL: '',
      DATABASE_URL: 'postgres://db/sdapi',
      SDAPI_DATABASE_POOL: '25',
      SDAPI_PUBLIC_URL: 'https://images.example.com/',
      SDAPI_WORKERS: '0',
      SDAPI_QUEUE_URL: 'redis://redis:6379',
      SDAPI_QUEUE_PREFIX: 'blue',
      SDAPI_TRUST_PROXY: '10.0.0.0/8,127.0.0.1',
      LOG_LEVEL: 'warn',
      UNRELATED: 'x',
    });
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.port, 9000);
    assert.equal(config.dataDir, '/srv/sdapi');
    assert.equal(config.databaseUrl, 'postgres://db/sdapi', 'DATABASE_URL is the fallback of an empty SDAPI_DATABASE_URL');
    assert.equal(config.databasePoolSize, 25);
    assert.equal(config.publicUrl, 'https://images.example.com');
    assert.equal(config.publicUrlConfigured, true);
    assert.equal(config.workers, 0);
    assert.equal(config.queueUrl, 'redis://redis:6379');
    assert.equal(config.queuePrefix, 'blue');
    assert.equal(config.trustProxy, '10.0.0.0/8,127.0.0.1');
    assert.equal(config.logLevel, 'warn');
    assert.equal(loadConfig({ HOST: '0.0.0.0', PORT: '81' }).publicUrl, 'http://127.0.0.1:81', 'a wildcard host is shown as loopback');
    assert.equal(loadConfig({ SDAPI_TRUST_PROXY: 'true' }).trustProxy, true);
  });

  it('names every invalid variable at once in a ConfigError (never an HTTP error)', () => {
    const env = { PORT: '1.5', SDAPI_WORKERS: '65', SDAPI_DATABASE_POOL: '0', SDAPI_QUEUE_URL: 'kafka://x', LOG_LEVEL: 'loud', SDAPI_DATABASE_URL: 'mysql://x', SDAPI_PUBLIC_URL: 'images.example.com' };
    const err = (() => {
      try {
        loadConfig(env);
      } catch (e) {
        return e;
      }
    })();
    assert.ok(err instanceof ConfigError);
    assert.equal(Reflect.get(err, 'status'), undefined, 'no HTTP status');
    assert.deepEqual(
      err.problems.map((p) => p.split(' ')[0]),
      ['PORT', 'SDAPI_DATABASE_URL', 'SDAPI_DATABASE_POOL', 'SDAPI_PUBLIC_URL', 'SDAPI_WORKERS', 'SDAPI_QUEUE_URL', 'LOG_LEVEL'],
    );
    assert.match(err.message, /^Invalid environment: PORT must be an integer between 0 and 65535, got "1\.5"; /);
    assert.doesNotMatch(err.message, /\n/);
  });

  it('parses the abuse and operations settings: rates as COUNT/WINDOW or off, the sign-up mode, the metrics token', () => {
    const defaults = loadConfig({});
    assert.deepEqual(defaults.rateLimit, { count: 150, windowSeconds: 10 });
    assert.deepEqual(defaults.signupLimit, { count: 5, windowSeconds: 3600 });
    assert.equal(defaults.signup, 'open');
    assert.equal(defaults.metricsToken, undefined);
    const set = loadConfig({ SDAPI_RATE_LIMIT: '1000/1m', SDAPI_SIGNUP_LIMIT: 'off', SDAPI_SIGNUP: 'invite', SDAPI_METRICS_TOKEN: 'a-long-metrics-token', SDAPI_SIGNUP_CREDITS: '0' });
    assert.deepEqual(set.rateLimit, { count: 1000, windowSeconds: 60 });
    assert.equal(set.signupLimit, undefined);
    assert.equal(set.signup, 'invite');
    assert.equal(set.signupCredits, 0);
    assert.equal(set.metricsToken, 'a-long-metrics-token');
    assert.deepEqual(loadConfig({ SDAPI_RATE_LIMIT: '20/30' }).rateLimit, { count: 20, windowSeconds: 30 }, 'a window without a unit is in seconds');
    assert.deepEqual(loadConfig({ SDAPI_SIGNUP_LIMIT: '3/1d' }).signupLimit, { count: 3, windowSeconds: 86_400 });
    assert.equal(loadConfig({ SDAPI_RATE_LIMIT: 'off' }).rateLimit, undefined);

    const err = (() => {
      try {
        loadConfig({ SDAPI_RATE_LIMIT: '0/10s', SDAPI_SIGNUP_LIMIT: '5 per hour', SDAPI_SIGNUP: 'maybe', SDAPI_METRICS_TOKEN: 'short' });
      } catch (e) {
        return e;
      }
    })();
    assert.ok(err instanceof ConfigError);
    assert.deepEqual(err.problems.map((p) => p.split(' ')[0]).sort(), ['SDAPI_METRICS_TOKEN', 'SDAPI_RATE_LIMIT', 'SDAPI_SIGNUP', 'SDAPI_SIGNUP_LIMIT']);
    assert.match(err.message, /SDAPI_RATE_LIMIT must be "off" or COUNT\/WINDOW such as 150\/10s/);
    for (const bad of ['10/0s', '10/10x', '10', '-1/10s', '1.5/10s']) assert.throws(() => loadConfig({ SDAPI_RATE_LIMIT: bad }), ConfigError, bad);
  });

  it('documents every variable in the schema', () => {
    for (const [name, schema] of Object.entries(EnvSchema.properties)) assert.ok(typeof schema.description === 'string' && schema.description.length > 10, name);
  });
});
