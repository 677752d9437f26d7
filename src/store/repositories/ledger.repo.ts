/** The `credit_ledger` table: one row per movement of a user's balance. Every method is scoped by user id. */
import type { Kysely, Selectable } from 'kysely';
import type { Database } from '../schema.ts';
import type { CreditLedgerTable } from '../tables/generation.ts';

export type LedgerRow = Selectable<CreditLedgerTable>;

export class LedgerRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: LedgerRow): Promise<void> {
    await this.db.insertInto('credit_ledger').values(row).execute();
  }

  /** Newest first. */
  async list(userId: string, window: { limit: number; offset: number }): Promise<LedgerRow[]> {
    return this.db
      .selectFrom('credit_ledger')
      .selectAll()
      .where('user_id', '=', userId)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(window.limit)
      .offset(window.offset)
      .execute();
  }

  async count(userId: string): Promise<number> {
    const row = await this.db.selectFrom('credit_ledger').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', userId).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** Credits held for an entry: its reservation, less what was already refunded or charged; 0 when none. */
  async heldFor(userId: string, entryId: string): Promise<number> {
    const rows = await this.db.selectFrom('credit_ledger').select(['kind', 'billed', 'amount']).where('user_id', '=', userId).where('entry_id', '=', entryId).execute();
    let held = 0;
    for (const r of rows) {
      if (r.kind === 'reserve') held += Number(r.billed);
      else if (r.kind === 'refund') held -= Number(r.amount);
      else if (r.kind === 'charge') held -= Number(r.billed);
    }
    return Math.max(0, held);
  }
}
