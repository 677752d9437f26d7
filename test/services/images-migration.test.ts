/** Migration 006 backfills the gallery's `images` table from the response entries written before it. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { migrationProvider } from '../../src/store/migrations/index.ts';
import { openStore } from '../../src/store/database.ts';

describe('migration 006-images', () => {
  it('backfills one row per delivered image, with the request, thread and positive prompt', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sdapi-migration-'));
    const file = join(dir, 'sdapi.db');
    try {
      const sqlite = new SQLite(file);
      sqlite.pragma('foreign_keys = ON');
      const db = new Kysely<Record<string, Record<string, unknown>>>({ dialect: new SqliteDialect({ database: sqlite }) });
      const migrated = await new Migrator({ db, provider: migrationProvider }).migrateTo('005-thread-versions');
      assert.equal(migrated.error, undefined);
      const now = '2023-07-13T19:56:25.000Z';
      await db.insertInto('users').values({ id: 'u1', email: 'a@example.com', password_hash: 'x', credits: 0, created_at: now }).execute();
      await db.insertInto('threads').values({ id: 't1', user_id: 'u1', ai_code: 'stablediffusion', ai_version_code: 'stablediffusion_text2img', title: 'Delorean', created_at: now, updated_at: now, version: 0 }).execute();
      const entry = { thread_id: 't1', user_id: 'u1', error: null, waiting_response: 0, progress: null, files: '[]', created_at: now, updated_at: now };
      const request = { prompts: [{ text: 'Delorean hacking time', weight: 1 }, { text: 'Clock', weight: -1 }], engine: 'e', style: null, images: 2, steps: 45, resolution: '1024x1024' };
      const image = (n: number) => ({ url: `http://h/storage/${n}.png`, thumbnail_url: `http://h/storage/${n}.png.thumbnail.jpg`, dimensions: '1024x1024', filesize: 100 + n, seed: 7 + n, finish_reason: 'SUCCESS' });
      await db
        .insertInto('entries')
        .values([
          { ...entry, id: 'r1', seq: 1, type: 'request', request_id: null, content: JSON.stringify(request), credits: 0, status: 'done' },
          { ...entry, id: 'p1', seq: 2, type: 'response', request_id: 'r1', content: JSON.stringify([image(0), image(1)]), credits: 10, status: 'done', created_at: '2023-07-13T19:57:09.000Z' },
          { ...entry, id: 'r2', seq: 3, type: 'request', request_id: null, content: JSON.stringify(request), credits: 0, status: 'failed' },
          { ...entry, id: 'p2', seq: 4, type: 'response', request_id: 'r2', content: '[]', credits: 0, status: 'failed', error: 'boom' },
        ])
        .execute();
      await db.destroy();

      const store = await openStore(`sqlite:${file}`);
      try {
        const rows = await store.db.selectFrom('images').selectAll().orderBy('position').execute();
        assert.deepEqual(
          rows.map((r) => [r.id, r.request_id, r.response_id, r.thread_id, Number(r.position), r.url, Number(r.seed), Number(r.filesize), r.prompt, r.created_at]),
          [
            ['p1:0', 'r1', 'p1', 't1', 0, 'http://h/storage/0.png', 7, 100, 'Delorean hacking time', '2023-07-13T19:57:09.000Z'],
            ['p1:1', 'r1', 'p1', 't1', 1, 'http://h/storage/1.png', 8, 101, 'Delorean hacking time', '2023-07-13T19:57:09.000Z'],
          ],
        );
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
