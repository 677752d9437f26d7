/**
 * Credits: `users.credits` is the spendable balance (reservations already subtracted) and can never go
 * negative; every movement also writes a `credit_ledger` row in the same transaction.
 * reserve (−cost) when a request is accepted → charge (0, settles the hold) when its images are
 * delivered, or refund (+cost) when generation fails or the thread is deleted first.
 */
import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../../store/schema.ts';
import type { LedgerKind } from '../../store/tables/generation.ts';
import { AppError } from '../errors.ts';
import { pageWindow, type Page, type Paged } from '../pagination.ts';

export interface LedgerItem {
  id: string;
  kind: LedgerKind;
  amount: number;
  billed: number;
  balanceAfter: number;
  entryId: string | null;
  reason: string;
  createdAt: string;
}


export class CreditService {
  constructor(private readonly db: Kysely<Database>) {}

  async balance(userId: string): Promise<number> {
    const row = await this.db.selectFrom('users').select('credits').where('id', '=', userId).executeTakeFirst();
    if (!row) throw new AppError('not_found', 'User not found.');
    return Number(row.credits);
  }

  /** Adds (amount > 0) or removes (amount < 0, never below zero) credits; returns the new balance. */
  async grant(userId: string, amount: number, reason = 'Granted by an administrator.'): Promise<number> {
    if (!Number.isSafeInteger(amount) || amount === 0) {
      throw AppError.validation({ amount: ['The amount must be a non-zero integer.'] });
    }
    return this.db.transaction().execute(async (trx) => {
      const row = await trx
        .updateTable('users')
        .set({ credits: sql<number>`credits + ${amount}` })
        .where('id', '=', userId)
        .where('credits', '>=', Math.max(0, -amount))
        .returning('credits')
        .executeTakeFirst();
      if (!row) {
        const exists = await trx.selectFrom('users').select('id').where('id', '=', userId).executeTakeFirst();
        if (!exists) throw new AppError('not_found', 'User not found.');
        throw new AppError('insufficient_credits', `Cannot remove ${-amount} credits: the balance is lower.`);
      }
      await this.writeLedger(trx, { userId, kind: 'grant', amount, billed: 0, balanceAfter: Number(row.credits), entryId: null, reason });
      return Number(row.credits);
    });
  }

  /** Holds `cost` credits for an entry inside `trx`; 402 when the balance is too low. */
  async reserve(trx: Kysely<Database>, userId: string, cost: number, entryId: string): Promise<number> {
    const row = await trx
      .updateTable('users')
      .set({ credits: sql<number>`credits - ${cost}` })
      .where('id', '=', userId)
      .where('credits', '>=', cost)
      .returning('credits')
      .executeTakeFirst();
    if (!row) {
      const balance = await trx.selectFrom('users').select('credits').where('id', '=', userId).executeTakeFirst();
      throw new AppError('insufficient_credits', `Insufficient credits: this request costs ${cost} and the balance is ${Number(balance?.credits ?? 0)}.`);
    }
    await this.writeLedger(trx, {
      userId,
      kind: 'reserve',
      amount: -cost,
      billed: cost,
      balanceAfter: Number(row.credits),
      entryId,
      reason: `Reserved ${cost} credits for a generation request.`,
    });
    return Number(row.credits);
  }

  /** Settles a reservation as spent (balance unchanged: it was subtracted at reserve time). */
  async charge(trx: Kysely<Database>, userId: string, cost: number, entryId: string): Promise<void> {
    const row = await trx.selectFrom('users').select('credits').where('id', '=', userId).executeTakeFirstOrThrow();
    await this.writeLedger(trx, {
      userId,
      kind: 'charge',
      amount: 0,
      billed: cost,
      balanceAfter: Number(row.credits),
      entryId,
      reason: `Charged ${cost} credits for delivered images.`,
    });
  }

  /** Gives a reservation back. */
  async refund(trx: Kysely<Database>, userId: string, cost: number, entryId: string, reason: string): Promise<void> {
    const row = await trx
      .updateTable('users')
      .set({ credits: sql<number>`credits + ${cost}` })
      .where('id', '=', userId)
      .returning('credits')
      .executeTakeFirst();
    if (!row) return; // the account is gone
    await this.writeLedger(trx, { userId, kind: 'refund', amount: cost, billed: 0, balanceAfter: Number(row.credits), entryId, reason });
  }

  async listLedger(userId: string, page: Page = { page: 1, perPage: 50 }): Promise<Paged<LedgerItem>> {
    const { page: current, perPage, offset } = pageWindow(page, 200);
    const [rows, count] = await Promise.all([
      this.db
        .selectFrom('credit_ledger')
        .selectAll()
        .where('user_id', '=', userId)
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(perPage)
        .offset(offset)
        .execute(),
      this.db.selectFrom('credit_ledger').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', userId).executeTakeFirstOrThrow(),
    ]);
    return {
      items: rows.map((r) => ({
        id: r.id,
        kind: r.kind,
        amount: Number(r.amount),
        billed: Number(r.billed),
        balanceAfter: Number(r.balance_after),
        entryId: r.entry_id,
        reason: r.reason,
        createdAt: r.created_at,
      })),
      total: Number(count.n),
      page: current,
      perPage,
    };
  }

  private async writeLedger(
    trx: Kysely<Database>,
    item: { userId: string; kind: LedgerKind; amount: number; billed: number; balanceAfter: number; entryId: string | null; reason: string },
  ): Promise<void> {
    await trx
      .insertInto('credit_ledger')
      .values({
        id: randomUUID(),
        user_id: item.userId,
        kind: item.kind,
        amount: item.amount,
        billed: item.billed,
        balance_after: item.balanceAfter,
        entry_id: item.entryId,
        reason: item.reason,
        created_at: new Date().toISOString(),
      })
      .execute();
  }
}
