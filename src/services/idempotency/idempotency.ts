/**
 * Idempotency-Key for the POSTs that create something (POST /threads, POST /threads/{guid}/entry), as Stripe does:
 * - a key (1–255 characters) belongs to one account and lives 24 h;
 * - the first request that passed validation claims the key, and its result is stored in the same transaction as
 *   the work (the entry, its reservation, its job), so a result exists exactly when the work committed;
 * - the same key with the same parsed request replays that result (no second entry, no second charge), whatever
 *   body encoding it came in (the fingerprint is taken from the checked request, not the bytes);
 * - the same key with a different request is a 422; a duplicate while the first is still running is a 409;
 * - a request refused for bad input (422) never claims the key, and one that ended without a result to keep
 *   (a server error, a 404) gives it back, so the client can fix the input and send it again with the same key.
 */
import { createHash, randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../../domain/clock.ts';
import { AppError, isAppError } from '../../domain/errors.ts';
import type { DataStore } from '../../store/database.ts';
import type { Repositories } from '../../store/repositories/repositories.ts';

export const IDEMPOTENCY_KEY_MAX = 255;
export const IDEMPOTENCY_TTL_MS = 24 * 3600_000;
/** A key still `processing` after this belongs to a request that died before finishing: it may be claimed again. */
export const IDEMPOTENCY_LOCK_MS = 60_000;
/** The header, and the field name its 422s use. */
export const IDEMPOTENCY_HEADER = 'idempotency-key';

/** The key a request holds while it does its work; pass it to complete() inside the work's transaction. */
export interface IdempotencyClaim {
  userId: string;
  key: string;
  claim: string;
}

/** A stored result: the HTTP status and the result the route renders. */
export interface StoredResult<T> {
  status: number;
  value: T;
}

/** A stored refusal replayed (the first request with the key was refused for want of credits). */
export class ReplayedRefusal extends AppError {
  readonly replayed = true;
}

export type IdempotentOutcome<T> = { replayed: false; result: StoredResult<T> } | { replayed: true; result: StoredResult<T> };

/** The header's value checked: undefined when absent; a 422 naming the header when it is not 1–255 printable characters. */
export function checkIdempotencyKey(raw: string | string[] | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const value = Array.isArray(raw) ? raw.join(', ') : raw;
  if (value.length < 1 || value.length > IDEMPOTENCY_KEY_MAX || !/^[\x20-\x7e]+$/.test(value)) {
    throw AppError.validation({ [IDEMPOTENCY_HEADER]: [`The Idempotency-Key header must be 1 to ${IDEMPOTENCY_KEY_MAX} printable ASCII characters.`] });
  }
  return value;
}

/** A stable hash of a request: the operation and its parsed fields, object keys sorted. */
export function fingerprint(operation: string, request: unknown): string {
  return createHash('sha256').update(operation).update('\n').update(canonicalJson(request)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export class IdempotencyService {
  readonly #clock: Clock;

  constructor(
    private readonly store: DataStore,
    clock: Clock = systemClock,
  ) {
    this.#clock = clock;
  }

  /**
   * Runs `work` once per (account, key, request): the first time it runs (it must call complete() with the claim in
   * its transaction); afterwards the stored result is replayed. `revive` turns the stored JSON back into a result.
   */
  async run<T>(
    target: { userId: string; key: string; fingerprint: string },
    work: (claim: IdempotencyClaim) => Promise<StoredResult<T>>,
    revive: (json: unknown) => T,
  ): Promise<IdempotentOutcome<T>> {
    const begun = await this.#begin(target);
    if (begun.kind === 'stored') {
      if (begun.status >= 400) throw new ReplayedRefusal('insufficient_credits', begun.message ?? 'The first request with this Idempotency-Key failed.');
      return { replayed: true, result: { status: begun.status, value: revive(begun.body) } };
    }
    const claim = begun.claim;
    try {
      return { replayed: false, result: await work(claim) };
    } catch (err) {
      // A refusal for want of credits is a result (the request was valid and began): replayed as such.
      if (isAppError(err) && err.code === 'insufficient_credits') {
        await this.store.repos.idempotencyKeys.complete(claim.userId, claim.key, claim.claim, { status: err.status, body: JSON.stringify({ message: err.message }) });
      } else {
        await this.store.repos.idempotencyKeys.release(claim.userId, claim.key, claim.claim).catch(() => undefined);
      }
      throw err;
    }
  }

  /** Stores the result of the request holding `claim`, inside its work's transaction; a 409 (rolling the work back) when it lost the key. */
  async complete<T>(tx: Repositories, claim: IdempotencyClaim, result: StoredResult<T>): Promise<void> {
    if (!(await tx.idempotencyKeys.complete(claim.userId, claim.key, claim.claim, { status: result.status, body: JSON.stringify(result.value) }))) {
      throw new AppError('conflict', 'Another request with this Idempotency-Key took over: retry to get its result.');
    }
  }

  async #begin(target: { userId: string; key: string; fingerprint: string }): Promise<{ kind: 'claimed'; claim: IdempotencyClaim } | { kind: 'stored'; status: number; body: unknown; message?: string }> {
    const repo = this.store.repos.idempotencyKeys;
    const now = this.#clock();
    const row = {
      user_id: target.userId,
      key: target.key,
      fingerprint: target.fingerprint,
      status: 'processing' as const,
      claim: randomUUID(),
      locked_until: new Date(now.getTime() + IDEMPOTENCY_LOCK_MS).toISOString(),
      response_status: null,
      response_body: null,
      created_at: now.toISOString(),
      expires_at: new Date(now.getTime() + IDEMPOTENCY_TTL_MS).toISOString(),
    };
    const claimed = { kind: 'claimed' as const, claim: { userId: target.userId, key: target.key, claim: row.claim } };
    for (let tries = 0; tries < 3; tries += 1) {
      if (await repo.insertIfAbsent(row)) return claimed;
      const existing = await repo.find(target.userId, target.key);
      if (!existing) continue; // released meanwhile: insert again
      const expired = Date.parse(existing.expires_at) <= now.getTime();
      const abandoned = existing.status === 'processing' && Date.parse(existing.locked_until) <= now.getTime();
      if (expired || abandoned) {
        if (await repo.takeOver(existing.claim, row)) return claimed;
        continue;
      }
      if (existing.fingerprint !== target.fingerprint) {
        throw AppError.validation({ [IDEMPOTENCY_HEADER]: ['This Idempotency-Key was already used with a different request.'] });
      }
      if (existing.status === 'processing') {
        throw new AppError('conflict', 'A request with this Idempotency-Key is still being processed: retry in a moment.');
      }
      const body: unknown = JSON.parse(existing.response_body ?? 'null');
      const status = Number(existing.response_status ?? 200);
      const message = status >= 400 && body !== null && typeof body === 'object' && typeof Reflect.get(body, 'message') === 'string' ? String(Reflect.get(body, 'message')) : undefined;
      return { kind: 'stored', status, body, message };
    }
    throw new AppError('conflict', 'A request with this Idempotency-Key is still being processed: retry in a moment.');
  }

  /** Deletes expired keys (the hourly housekeeping). */
  async purgeExpired(): Promise<number> {
    return this.store.repos.idempotencyKeys.deleteExpired(this.#clock().toISOString());
  }
}
