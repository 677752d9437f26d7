/**
 * Fair scheduling as the rest of the service sees it (docs/scheduling.md): an account's priority and caps (read by
 * GET /account, set by `sdapi users set`), the `max_queued` check a new request passes inside its transaction, and
 * the queue position of a queued request in the order the claim query will start it.
 */
import { AppError, ThrottledError, type FieldErrors } from '../../domain/errors.ts';
import {
  DEFAULT_MAX_QUEUED,
  isAccountPriority,
  MAX_QUEUED_LIMIT,
  MAX_RUNNING_LIMIT,
  priorityWeight,
  type AccountPriority,
} from '../../domain/scheduling.ts';
import { fairOrder } from '../../queue/fair-order.ts';
import type { DataStore } from '../../store/database.ts';
import type { JobsRepository } from '../../store/repositories/jobs.repo.ts';
import type { Repositories } from '../../store/repositories/repositories.ts';

export interface AccountScheduling {
  priority: AccountPriority;
  maxRunning: number;
  maxQueued: number;
  /** The account's jobs running now, across all workers. */
  running: number;
  /** The account's jobs waiting now. */
  queued: number;
}

export interface SchedulingChange {
  priority?: string;
  maxRunning?: number;
  maxQueued?: number;
}

/** Retry-After of a request refused by `max_queued`: about one short generation, when a queued job may have started. */
export const QUEUE_FULL_RETRY_SECONDS = 10;

/**
 * Refuses a new job when the account already has `max_queued` waiting (429, Retry-After). Call inside the request's
 * transaction: on PostgreSQL it locks the account row first, so concurrent requests of one account count one after
 * the other and the cap holds exactly (SQLite serialises writers by itself).
 */
export async function checkQueueRoom(tx: Repositories, userId: string): Promise<void> {
  await tx.users.lock(userId);
  const [user, counts] = await Promise.all([tx.users.findById(userId), tx.jobs.countsForUser(userId)]);
  const maxQueued = user ? Number(user.max_queued) : DEFAULT_MAX_QUEUED;
  if (counts.queued >= maxQueued) {
    throw new ThrottledError(
      `Too many queued requests: this account may have ${maxQueued} waiting and has ${counts.queued}. Retry when one has started.`,
      QUEUE_FULL_RETRY_SECONDS,
    );
  }
}

export class SchedulingService {
  constructor(private readonly store: DataStore) {}

  async settings(userId: string): Promise<AccountScheduling> {
    const [user, counts] = await Promise.all([this.store.repos.users.findById(userId), this.store.repos.jobs.countsForUser(userId)]);
    if (!user) throw new AppError('not_found', 'User not found.');
    return {
      priority: isAccountPriority(user.priority) ? user.priority : 'normal',
      maxRunning: Number(user.max_running),
      maxQueued: Number(user.max_queued),
      ...counts,
    };
  }

  /** Sets what is given; one 422 names every bad value. Returns the settings after the change. */
  async set(userId: string, change: SchedulingChange): Promise<AccountScheduling> {
    const fields: FieldErrors = {};
    if (change.priority !== undefined && !isAccountPriority(change.priority)) fields.priority = ['The priority must be one of high, normal, low.'];
    if (change.maxRunning !== undefined && !(Number.isSafeInteger(change.maxRunning) && change.maxRunning >= 1 && change.maxRunning <= MAX_RUNNING_LIMIT)) {
      fields.max_running = [`The max running must be an integer from 1 to ${MAX_RUNNING_LIMIT}.`];
    }
    if (change.maxQueued !== undefined && !(Number.isSafeInteger(change.maxQueued) && change.maxQueued >= 0 && change.maxQueued <= MAX_QUEUED_LIMIT)) {
      fields.max_queued = [`The max queued must be an integer from 0 to ${MAX_QUEUED_LIMIT}.`];
    }
    if (Object.keys(fields).length > 0) throw AppError.validation(fields);
    const found = await this.store.repos.users.setScheduling(userId, {
      ...(change.priority !== undefined && isAccountPriority(change.priority) ? { priority: change.priority } : {}),
      ...(change.maxRunning !== undefined ? { max_running: change.maxRunning } : {}),
      ...(change.maxQueued !== undefined ? { max_queued: change.maxQueued } : {}),
    });
    if (!found) throw new AppError('not_found', 'User not found.');
    return this.settings(userId);
  }

  /**
   * Queue positions of the pending requests on one engine, by request entry id: how many jobs the scheduler will
   * start on this engine before each (0: it is next). One read of the engine's queue serves every entry.
   */
  queuePositions(engine: string): Promise<Map<string, number>> {
    return fairQueuePositions(this.store.repos.jobs, engine);
  }

  /** The queue position of one queued request entry on its engine; undefined when it is not waiting there. */
  async queuePosition(engine: string, entryId: string): Promise<number | undefined> {
    return (await fairQueuePositions(this.store.repos.jobs, engine, entryId)).get(entryId);
  }
}

/**
 * The fair-order queue positions on one engine (entry id → jobs the scheduler starts before it): a snapshot of the
 * engine's queue replayed through the claim rule (queue/fair-order.ts). With `untilEntry`, the replay stops at that
 * entry's job and only its position is returned.
 */
export async function fairQueuePositions(jobs: JobsRepository, engine: string, untilEntry?: string): Promise<Map<string, number>> {
  const snapshot = await jobs.fairSnapshot(engine);
  const entryOf = new Map<string, string>();
  for (const job of snapshot.pending) if (job.entry_id) entryOf.set(job.id, job.entry_id);
  const target = untilEntry === undefined ? undefined : snapshot.pending.find((j) => j.entry_id === untilEntry)?.id;
  if (untilEntry !== undefined && target === undefined) return new Map();
  const order = fairOrder(
    {
      pending: snapshot.pending.map((j) => ({ id: j.id, userId: j.user_id, cost: Number(j.cost), createdAt: j.created_at })),
      accounts: new Map(snapshot.accounts.map((a) => [a.user_id, { vtime: a.vtime, weight: priorityWeight(a.priority) }])),
      clock: snapshot.clock,
    },
    target,
  );
  const positions = new Map<string, number>();
  order.forEach((jobId, index) => {
    const entryId = entryOf.get(jobId);
    if (entryId && (target === undefined || jobId === target)) positions.set(entryId, index);
  });
  return positions;
}
