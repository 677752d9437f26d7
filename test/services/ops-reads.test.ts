/** The database reads behind the metrics, on SQLite and (under SDAPI_TEST_DIALECT=postgres) PostgreSQL. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Store } from '../../src/store/database.ts';
import { openTestStore } from '../helpers/scale-out.ts';

describe('ops repository', () => {
  let store: Store;
  before(async () => {
    store = await openTestStore('opsreads');
  });
  after(() => store.close());

  const job = (engine: string | undefined, status: 'pending' | 'running' | 'done', createdAt: string, prompt = 'a red circle', finishedAt: string | null = null) => ({
    id: randomUUID(),
    kind: 'generate',
    payload_version: 1,
    // JSON.stringify writes a lone surrogate as the escape \\ud800, which PostgreSQL's json type refuses to parse.
    payload: JSON.stringify({ entryId: randomUUID(), request: { prompts: [{ text: prompt, weight: 1 }], ...(engine ? { engine } : {}), steps: 10 } }),
    status,
    engine: engine ?? null,
    entry_id: null,
    user_id: null,
    attempts: 0,
    max_attempts: 3,
    lease_owner: null,
    lease_expires_at: null,
    last_error: null,
    created_at: createdAt,
    started_at: status === 'pending' ? null : createdAt,
    finished_at: finishedAt,
  });

  it('counts pending and running jobs per kind, engine and status, whatever their prompts hold', async () => {
    await store.db
      .insertInto('jobs')
      .values([
        job('sd-1', 'pending', '2031-01-01T00:00:02.000Z'),
        job('sd-1', 'pending', '2031-01-01T00:00:01.000Z', 'x\ud800y "engine":"fake" \\ back'),
        job('sd-1', 'running', '2031-01-01T00:00:03.000Z'),
        job('xl', 'pending', '2031-01-01T00:00:04.000Z'),
        job(undefined, 'pending', '2031-01-01T00:00:05.000Z'),
        job('sd-1', 'done', '2031-01-01T00:00:00.000Z', 'done', '2031-01-01T00:01:00.000Z'),
      ])
      .execute();
    const activity = (await store.repos.ops.jobActivity()).map((a) => `${a.engine}/${a.status}/${a.count}/${a.oldestCreatedAt}`).sort();
    assert.deepEqual(activity, [
      'null/pending/1/2031-01-01T00:00:05.000Z',
      'sd-1/pending/2/2031-01-01T00:00:01.000Z',
      'sd-1/running/1/2031-01-01T00:00:03.000Z',
      'xl/pending/1/2031-01-01T00:00:04.000Z',
    ]);
    const finished = await store.repos.ops.jobsFinished({ after: '2031-01-01T00:00:30.000Z', until: '2031-01-01T00:02:00.000Z', limit: 10 });
    assert.deepEqual(finished.map((j) => [j.engine, j.status, j.finishedAt]), [['sd-1', 'done', '2031-01-01T00:01:00.000Z']]);
    await store.repos.ops.ping();
  });
});
