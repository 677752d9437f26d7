/**
 * Upgrading an install with queued requests: migration 006 gives each unfinished `generate` job its engine (from its
 * payload), so a routed worker claims it, and the version-1 payload is upgraded to carry the canonical engine id.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { JOB_DEFINITIONS } from '../../src/domain/jobs.ts';
import { DatabaseJobQueue } from '../../src/queue/database-job-queue.ts';
import { InProcessNotifier } from '../../src/queue/in-process-notifier.ts';
import { openStore } from '../../src/store/database.ts';
import { migrationProvider } from '../../src/store/migrations/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'sdapi-migrate-'));
after(() => rmSync(dir, { recursive: true, force: true }));

it('jobs queued before routing get their engine and run on a worker that serves it', async () => {
  const path = join(dir, 'old.db');
  const old = new Kysely<Record<string, Record<string, unknown>>>({ dialect: new SqliteDialect({ database: new SQLite(path) }) });
  const { error } = await new Migrator({ db: old, provider: migrationProvider }).migrateTo('005-thread-versions');
  assert.equal(error, undefined);
  const request = { prompts: [{ text: 'a cat', weight: 1 }], engine: 'stable-diffusion-v1-6', style: null, images: 1, steps: 30, resolution: '512x512' };
  const payload = { entryId: 'e1', threadId: 't1', userId: 'u1', aiVersionCode: 'stablediffusion_text2img', request, seed: 5, cost: 1 };
  const row = (id: string, status: string, createdAt: string) => ({
    id,
    kind: 'generate',
    payload_version: 1,
    payload: JSON.stringify({ ...payload, entryId: id }),
    status,
    entry_id: id,
    user_id: 'u1',
    attempts: 0,
    max_attempts: 3,
    created_at: createdAt,
  });
  await old.insertInto('jobs').values([row('pending-1', 'pending', '2030-01-01T00:00:00.000Z'), row('done-1', 'done', '2029-01-01T00:00:00.000Z')]).execute();
  await old.destroy();

  const store = await openStore(`sqlite:${path}`);
  try {
    const jobs = await store.db.selectFrom('jobs').select(['id', 'engine']).orderBy('id').execute();
    assert.deepEqual(jobs, [
      { id: 'done-1', engine: null },
      { id: 'pending-1', engine: 'stable-diffusion-v1-6' },
    ]);
    const queue = new DatabaseJobQueue({ jobs: store.repos.jobs, definitions: JOB_DEFINITIONS, notifier: new InProcessNotifier() });
    assert.equal(await queue.claim({ engines: ['sdxl'] }), undefined);
    const claim = await queue.claim({ engines: ['stable-diffusion-v1-6'] });
    assert.ok(claim && claim.invalid === undefined, JSON.stringify(claim));
    assert.equal(claim.job.version, 1);
    assert.equal(claim.job.payload.engine, 'stable-diffusion-v1-6', 'version 1 upgraded: the engine is the one its request named');
    await queue.close();
  } finally {
    await store.close();
  }
});
