/** The .env file (readEnvironment), LOG_FORMAT and the logger it picks, the printed database URL. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { announceStore, displayDatabaseUrl } from '../../src/cli/cli-context.ts';
import { createLogger, logFormatFor } from '../../src/composition/logger.ts';
import { ConfigError } from '../../src/config/config-error.ts';
import { loadConfig, readEnvironment } from '../../src/config/load-config.ts';

describe('readEnvironment(): the process environment over .env', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sdapi-env-'));
    writeFileSync(join(dir, '.env'), '# settings\nPORT=9100\nSDAPI_DATA_DIR=/srv/from-file\nLOG_LEVEL="debug"\nexport SDAPI_WORKERS=3\n');
    writeFileSync(join(dir, 'other.env'), 'PORT=9200\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads .env in the working directory; variables already set win over the file', () => {
    const { env, file } = readEnvironment({ env: { PORT: '8081', HOME: '/root' }, cwd: dir });
    assert.equal(file, join(dir, '.env'));
    const config = loadConfig(env);
    assert.equal(config.port, 8081, 'the environment wins');
    assert.equal(config.dataDir, '/srv/from-file');
    assert.equal(config.logLevel, 'debug');
    assert.equal(env.HOME, '/root');
  });

  it('SDAPI_ENV_FILE names another file (relative to the working directory) or "none"', () => {
    assert.equal(loadConfig(readEnvironment({ env: { SDAPI_ENV_FILE: 'other.env' }, cwd: dir }).env).port, 9200);
    const none = readEnvironment({ env: { SDAPI_ENV_FILE: 'none' }, cwd: dir });
    assert.equal(none.file, undefined);
    assert.equal(loadConfig(none.env).port, 8080);
    assert.throws(() => readEnvironment({ env: { SDAPI_ENV_FILE: 'missing.env' }, cwd: dir }), (err: unknown) => err instanceof ConfigError && /SDAPI_ENV_FILE cannot be read: .*missing\.env/.test(err.message));
  });

  it('no .env is fine: the environment as it is', () => {
    const empty = mkdtempSync(join(tmpdir(), 'sdapi-env-none-'));
    try {
      const { env, file } = readEnvironment({ env: { PORT: '1234' }, cwd: empty });
      assert.equal(file, undefined);
      assert.deepEqual(env, { PORT: '1234' });
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe('LOG_FORMAT and the logger', () => {
  it('is auto by default, and refuses other values', () => {
    assert.equal(loadConfig({}).logFormat, 'auto');
    assert.equal(loadConfig({ LOG_FORMAT: 'json' }).logFormat, 'json');
    assert.throws(() => loadConfig({ LOG_FORMAT: 'xml' }), /LOG_FORMAT must be one of auto, pretty, json/);
  });

  it('auto is pretty on a terminal and JSON elsewhere; pretty and json override', () => {
    assert.equal(logFormatFor('auto', { isTTY: true }), 'pretty');
    assert.equal(logFormatFor('auto', { isTTY: false }), 'json');
    assert.equal(logFormatFor('auto', {}), 'json');
    assert.equal(logFormatFor('json', { isTTY: true }), 'json');
    assert.equal(logFormatFor('pretty', { isTTY: false }), 'pretty');
  });

  it('writes readable lines on a terminal and one JSON object a line otherwise', () => {
    const capture = (isTTY: boolean, format: 'auto' | 'pretty' | 'json') => {
      const lines: string[] = [];
      const output = { isTTY, write: (chunk: string) => lines.push(String(chunk)) };
      createLogger({ logLevel: 'info', logFormat: format }, output).info({ url: 'http://127.0.0.1:8080' }, 'sdapi is serving');
      return lines.join('');
    };
    const json = capture(false, 'auto');
    const parsed = JSON.parse(json.trim());
    assert.equal(parsed.msg, 'sdapi is serving');
    assert.equal(parsed.url, 'http://127.0.0.1:8080');
    const pretty = capture(true, 'auto').replace(/\u001b\[\d+m/g, '');
    assert.match(capture(true, 'auto'), /\u001b\[/, 'coloured on a terminal');
    assert.match(pretty, /INFO/);
    assert.match(pretty, /sdapi is serving/);
    assert.match(pretty, /url: "http:\/\/127\.0\.0\.1:8080"/);
    assert.throws(() => JSON.parse(pretty.trim()));
    assert.doesNotThrow(() => JSON.parse(capture(true, 'json').trim()), 'LOG_FORMAT=json on a terminal');
    assert.match(capture(false, 'pretty'), /INFO.*sdapi is serving/, 'LOG_FORMAT=pretty into a pipe (no colours)');
    assert.doesNotMatch(capture(false, 'pretty'), /\u001b\[/);
  });
});

describe('which database a command uses', () => {
  it('is printed on stderr, with a postgres password masked', () => {
    assert.equal(displayDatabaseUrl('sqlite:/srv/sdapi/sdapi.db'), 'sqlite:/srv/sdapi/sdapi.db');
    assert.equal(displayDatabaseUrl('postgres://sdapi:s3cret@db:5432/sdapi'), 'postgres://sdapi:***@db:5432/sdapi');
    assert.equal(displayDatabaseUrl('postgres://db/sdapi'), 'postgres://db/sdapi');
    const err: string[] = [];
    const io = { out: () => undefined, err: (line: string) => void err.push(line), errStream: { write: () => true } };
    announceStore({ io, env: {}, envFile: '/srv/.env' }, { databaseUrl: 'postgres://u:p@db/sdapi' });
    assert.deepEqual(err, ['sdapi: read settings from /srv/.env', 'sdapi: using database postgres://u:***@db/sdapi']);
  });
});
