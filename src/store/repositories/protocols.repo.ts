/** `protocol_threads` and `protocol_requests`: every read and write is scoped by user id (or by the caller's token). */
import type { Kysely, Selectable } from 'kysely';
import type { EntryRow } from './entries.repo.ts';
import type { Database } from '../schema.ts';
import type { ProtocolRequestsTable } from '../tables/protocols.ts';

export type ProtocolRequestRow = Selectable<ProtocolRequestsTable>;

export class ProtocolsRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** The account's thread for the protocol, when it has one (the row goes with the thread). */
  async threadFor(userId: string, protocol: string): Promise<string | undefined> {
    const row = await this.db.selectFrom('protocol_threads').select('thread_id').where('user_id', '=', userId).where('protocol', '=', protocol).executeTakeFirst();
    return row?.thread_id;
  }

  async setThread(userId: string, protocol: string, threadId: string): Promise<void> {
    await this.db
      .insertInto('protocol_threads')
      .values({ user_id: userId, protocol, thread_id: threadId })
      .onConflict((oc) => oc.columns(['user_id', 'protocol']).doUpdateSet({ thread_id: threadId }))
      .execute();
  }

  async findRequest(tokenId: string, fingerprint: string): Promise<ProtocolRequestRow | undefined> {
    return this.db.selectFrom('protocol_requests').selectAll().where('token_id', '=', tokenId).where('fingerprint', '=', fingerprint).executeTakeFirst();
  }

  /** Records (or re-points) what a request body maps to. */
  async recordRequest(row: ProtocolRequestRow): Promise<void> {
    await this.db
      .insertInto('protocol_requests')
      .values(row)
      .onConflict((oc) => oc.columns(['token_id', 'fingerprint']).doUpdateSet({ entry_id: row.entry_id, user_id: row.user_id, created_at: row.created_at }))
      .execute();
  }

  /**
   * The newest request entry of the account's threads for the protocol (`protocols`: its thread keys) and how many
   * of those requests are queued or running, in one statement, so that both come from the same snapshot (two
   * queries could see a request arrive or finish in between).
   */
  async latestRequest(userId: string, protocols: readonly string[]): Promise<{ latest: EntryRow; unfinished: number } | undefined> {
    const row = await this.db
      .selectFrom('protocol_threads as p')
      .innerJoin('entries as e', (join) => join.onRef('e.thread_id', '=', 'p.thread_id').onRef('e.user_id', '=', 'p.user_id'))
      .selectAll('e')
      .select((eb) =>
        eb
          .selectFrom('protocol_threads as p2')
          .innerJoin('entries as e2', (join) => join.onRef('e2.thread_id', '=', 'p2.thread_id').onRef('e2.user_id', '=', 'p2.user_id'))
          .select((inner) => inner.fn.countAll<number>().as('n'))
          .where('p2.user_id', '=', userId)
          .where('p2.protocol', 'in', [...protocols])
          .where('e2.type', '=', 'request')
          .where('e2.status', 'in', ['queued', 'running'])
          .as('unfinished_requests'),
      )
      .where('p.user_id', '=', userId)
      .where('p.protocol', 'in', [...protocols])
      .where('e.type', '=', 'request')
      .orderBy('e.seq', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (!row) return undefined;
    const { unfinished_requests: unfinished, ...latest } = row;
    return { latest, unfinished: Number(unfinished ?? 0) };
  }

  /** The account's settings on the protocol, each value as stored (JSON). */
  async settings(userId: string, protocol: string): Promise<Map<string, string>> {
    const rows = await this.db.selectFrom('protocol_settings').select(['name', 'value']).where('user_id', '=', userId).where('protocol', '=', protocol).execute();
    return new Map(rows.map((r) => [r.name, r.value]));
  }

  /** Sets (or replaces) the account's settings on the protocol. */
  async setSettings(userId: string, protocol: string, values: ReadonlyMap<string, string>, now: string): Promise<void> {
    if (values.size === 0) return;
    await this.db
      .insertInto('protocol_settings')
      .values([...values].map(([name, value]) => ({ user_id: userId, protocol, name, value, updated_at: now })))
      .onConflict((oc) => oc.columns(['user_id', 'protocol', 'name']).doUpdateSet((eb) => ({ value: eb.ref('excluded.value'), updated_at: eb.ref('excluded.updated_at') })))
      .execute();
  }

  /** Housekeeping: forgets requests recorded before `before`. */
  async deleteRequestsBefore(before: string): Promise<number> {
    const result = await this.db.deleteFrom('protocol_requests').where('created_at', '<', before).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
