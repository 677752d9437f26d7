/**
 * Threads are per-user conversations with one AI version. Every query is scoped by user id, so
 * another account's thread is indistinguishable from a missing one (404).
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../../store/schema.ts';
import type { ThreadsTable } from '../../store/tables/generation.ts';
import type { JobQueue } from '../../queue/job-queue.ts';
import type { FileStorage } from '../../storage/file-storage.ts';
import type { CreditService } from '../credits/credit-service.ts';
import { pageWindow, type Page, type Paged } from '../pagination.ts';
import { lockThread } from '../../store/locks.ts';
import { AppError } from '../errors.ts';
import { AI_VERSIONS, findAiVersion } from './ai-versions.ts';
import type { GenerationPayload } from '../generation/payload.ts';

export interface Thread {
  id: string;
  aiCode: string;
  aiVersionCode: string;
  title: string;
  createdAt: string;
  updatedAt: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

export class ThreadService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly deps: { queue: JobQueue; storage: FileStorage; credits: CreditService },
  ) {}

  async create(userId: string, aiVersionCode: string): Promise<Thread> {
    const version = findAiVersion(aiVersionCode);
    if (!version) {
      throw AppError.validation({ ai_version_code: [`The selected ai_version_code is invalid. Valid: ${AI_VERSIONS.map((v) => v.aiVersionCode).join(', ')}.`] });
    }
    const now = new Date().toISOString();
    const row: ThreadsTable = { id: randomUUID(), user_id: userId, ai_code: version.aiCode, ai_version_code: version.aiVersionCode, title: version.title, created_at: now, updated_at: now };
    await this.db.insertInto('threads').values(row).execute();
    return toThread(row);
  }

  /** Newest first. */
  async list(userId: string, page: Page): Promise<Paged<Thread>> {
    const { page: current, perPage, offset } = pageWindow(page, 100);
    const [rows, count] = await Promise.all([
      this.db
        .selectFrom('threads')
        .selectAll()
        .where('user_id', '=', userId)
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(perPage)
        .offset(offset)
        .execute(),
      this.db.selectFrom('threads').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', userId).executeTakeFirstOrThrow(),
    ]);
    return { items: rows.map(toThread), total: Number(count.n), page: current, perPage };
  }

  async get(userId: string, id: string): Promise<Thread> {
    if (!isUuid(id)) throw new AppError('not_found', 'Thread not found.');
    const row = await this.db.selectFrom('threads').selectAll().where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
    if (!row) throw new AppError('not_found', 'Thread not found.');
    return toThread(row);
  }

  /** Deletes the thread, its entries and their files; unfinished jobs are cancelled and their credits refunded. */
  async delete(userId: string, id: string): Promise<void> {
    await this.get(userId, id);
    const files = await this.db.transaction().execute(async (trx) => {
      // PostgreSQL: no request can be added to (or answered in) the thread while it is being deleted.
      await lockThread(trx, id);
      const entries = await trx.selectFrom('entries').select(['id', 'files']).where('thread_id', '=', id).where('user_id', '=', userId).execute();
      const cancelled = await this.deps.queue.cancelForEntries(trx, entries.map((e) => e.id));
      for (const job of cancelled) {
        const payload = job.payload as GenerationPayload;
        await this.deps.credits.refund(trx, userId, payload.cost, job.entryId ?? '', 'Refunded: the thread was deleted before the images were delivered.');
      }
      await trx.deleteFrom('entries').where('thread_id', '=', id).where('user_id', '=', userId).execute();
      await trx.deleteFrom('threads').where('id', '=', id).where('user_id', '=', userId).execute();
      return entries.flatMap((e) => JSON.parse(e.files) as string[]);
    });
    await Promise.all(files.map((key) => this.deps.storage.delete(key).catch(() => undefined)));
  }
}

function toThread(row: ThreadsTable): Thread {
  return { id: row.id, aiCode: row.ai_code, aiVersionCode: row.ai_version_code, title: row.title, createdAt: row.created_at, updatedAt: row.updated_at };
}
