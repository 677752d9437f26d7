/**
 * The `idempotency_keys` table. A key is claimed by one INSERT … ON CONFLICT DO NOTHING, so of N concurrent requests
 * with one key exactly one holds it; the holder's result is written by a conditional UPDATE on its claim token (in
 * the same transaction as the work it records), and an expired key, or one whose holder died before finishing, is
 * taken over by a conditional UPDATE on the old claim.
 */
import type { Kysely, Selectable } from 'kysely';
import type { Database } from '../schema.ts';
import type { IdempotencyKeysTable } from '../tables/webhooks.ts';

export type IdempotencyKeyRow = Selectable<IdempotencyKeysTable>;

export class IdempotencyKeysRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** True when this row now holds the key; false when another row (read it with find()) already does. */
  async insertIfAbsent(row: IdempotencyKeyRow): Promise<boolean> {
    const inserted = await this.db
      .insertInto('idempotency_keys')
      .values(row)
      .onConflict((oc) => oc.columns(['user_id', 'key']).doNothing())
      .returning('claim')
      .executeTakeFirst();
    return inserted !== undefined;
  }

  async find(userId: string, key: string): Promise<IdempotencyKeyRow | undefined> {
    return this.db.selectFrom('idempotency_keys').selectAll().where('user_id', '=', userId).where('key', '=', key).executeTakeFirst();
  }

  /** Replaces the row held under `previousClaim` (expired, or abandoned by its holder); false when it changed meanwhile. */
  async takeOver(previousClaim: string, row: IdempotencyKeyRow): Promise<boolean> {
    const result = await this.db
      .updateTable('idempotency_keys')
      .set({
        fingerprint: row.fingerprint,
        status: row.status,
        claim: row.claim,
        locked_until: row.locked_until,
        response_status: null,
        response_body: null,
        created_at: row.created_at,
        expires_at: row.expires_at,
      })
      .where('user_id', '=', row.user_id)
      .where('key', '=', row.key)
      .where('claim', '=', previousClaim)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Stores the result of the request holding `claim`; false when it no longer holds the key. */
  async complete(userId: string, key: string, claim: string, result: { status: number; body: string }): Promise<boolean> {
    const updated = await this.db
      .updateTable('idempotency_keys')
      .set({ status: 'done', response_status: result.status, response_body: result.body })
      .where('user_id', '=', userId)
      .where('key', '=', key)
      .where('claim', '=', claim)
      .where('status', '=', 'processing')
      .executeTakeFirst();
    return Number(updated.numUpdatedRows) === 1;
  }

  /** Frees a key whose request ended without a result to keep (bad input, a server error). */
  async release(userId: string, key: string, claim: string): Promise<void> {
    await this.db.deleteFrom('idempotency_keys').where('user_id', '=', userId).where('key', '=', key).where('claim', '=', claim).where('status', '=', 'processing').execute();
  }

  async deleteExpired(now: string): Promise<number> {
    const result = await this.db.deleteFrom('idempotency_keys').where('expires_at', '<=', now).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
