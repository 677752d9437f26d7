/**
 * Credits: `users.credits` is the spendable balance (reservations already subtracted) and can never go negative;
 * every movement also writes a `credit_ledger` row in the same transaction.
 * reserve (−cost) when a request is accepted → charge (0, settles the hold) when its images are delivered, or
 * refund (+cost) when generation fails or the thread is deleted first.
 */
import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../../domain/clock.ts';
import { AppError } from '../../domain/errors.ts';
import { pageWindow, type Page, type Paged } from '../../domain/pagination.ts';
import type { DataStore } from '../../store/database.ts';
import type { Repositories } from '../../store/repositories/repositories.ts';
import type { LedgerKind } from '../../store/tables/generation.ts';

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
  constructor(
    private readonly store: DataStore,
    private readonly clock: Clock = systemClock,
  ) {}

  async balance(userId: string): Promise<number> {
    const balance = await this.store.repos.users.balance(userId);
    if (balance === undefined) throw new AppError('not_found', 'User not found.');
    return balance;
  }

  /** Adds (amount > 0) or removes (amount < 0, never below zero) credits; returns the new balance. */
  async grant(userId: string, amount: number, reason = 'Granted by an administrator.'): Promise<number> {
    if (!Number.isSafeInteger(amount) || amount === 0) {
      throw AppError.validation({ amount: ['The amount must be a non-zero integer.'] });
    }
    return this.store.transaction(async (tx) => {
      const balance = await tx.users.changeBalance(userId, amount, { floor: 0 });
      if (balance === undefined) {
        if ((await tx.users.balance(userId)) === undefined) throw new AppError('not_found', 'User not found.');
        throw new AppError('insufficient_credits', `Cannot remove ${-amount} credits: the balance is lower.`);
      }
      await this.#record(tx, { userId, kind: 'grant', amount, billed: 0, balanceAfter: balance, entryId: null, reason });
      return balance;
    });
  }

  /** Holds `cost` credits for an entry inside `tx`; 402 when the balance is too low. */
  async reserve(tx: Repositories, hold: { userId: string; cost: number; entryId: string }): Promise<number> {
    const balance = await tx.users.changeBalance(hold.userId, -hold.cost, { floor: 0 });
    if (balance === undefined) {
      const current = (await tx.users.balance(hold.userId)) ?? 0;
      throw new AppError('insufficient_credits', `Insufficient credits: this request costs ${hold.cost} and the balance is ${current}.`);
    }
    await this.#record(tx, {
      userId: hold.userId,
      kind: 'reserve',
      amount: -hold.cost,
      billed: hold.cost,
      balanceAfter: balance,
      entryId: hold.entryId,
      reason: `Reserved ${hold.cost} credits for a generation request.`,
    });
    return balance;
  }

  /** Settles a reservation as spent (balance unchanged: it was subtracted at reserve time). */
  async charge(tx: Repositories, hold: { userId: string; cost: number; entryId: string }): Promise<void> {
    const balance = await tx.users.balance(hold.userId);
    if (balance === undefined) return; // the account is gone
    await this.#record(tx, {
      userId: hold.userId,
      kind: 'charge',
      amount: 0,
      billed: hold.cost,
      balanceAfter: balance,
      entryId: hold.entryId,
      reason: `Charged ${hold.cost} credits for delivered images.`,
    });
  }

  /** Gives back what is still held for an entry (its reservation, unless already refunded or charged). */
  async refundHeld(tx: Repositories, hold: { userId: string; entryId: string; reason: string }): Promise<number> {
    const held = await tx.ledger.heldFor(hold.userId, hold.entryId);
    if (held <= 0) return 0;
    const balance = await tx.users.changeBalance(hold.userId, held);
    if (balance === undefined) return 0; // the account is gone
    await this.#record(tx, { userId: hold.userId, kind: 'refund', amount: held, billed: 0, balanceAfter: balance, entryId: hold.entryId, reason: hold.reason });
    return held;
  }

  async listLedger(userId: string, page: Page = { page: 1, perPage: 50 }): Promise<Paged<LedgerItem>> {
    const { page: current, perPage, offset } = pageWindow(page, 200);
    const [rows, total] = await Promise.all([this.store.repos.ledger.list(userId, { limit: perPage, offset }), this.store.repos.ledger.count(userId)]);
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
      total,
      page: current,
      perPage,
    };
  }

  async #record(tx: Repositories, item: { userId: string; kind: LedgerKind; amount: number; billed: number; balanceAfter: number; entryId: string | null; reason: string }): Promise<void> {
    await tx.ledger.insert({
      id: randomUUID(),
      user_id: item.userId,
      kind: item.kind,
      amount: item.amount,
      billed: item.billed,
      balance_after: item.balanceAfter,
      entry_id: item.entryId,
      reason: item.reason,
      created_at: this.clock().toISOString(),
    });
  }
}
