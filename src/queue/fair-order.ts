/**
 * The claim order of the fair scheduler, computed in memory from a snapshot of the queue: the same rule as the claim
 * query (src/store/repositories/jobs.repo.ts), so the queue position shown to a client is where the scheduler will
 * actually start the job. Repeatedly: the account with the least start tag max(vtime, clock) (ties: its oldest
 * pending job first, then the account id) starts its oldest job; the clock becomes that start tag and the account's
 * vtime grows by cost ÷ weight. Jobs of no account come last, oldest first (the claim takes them only when no
 * account's job is claimable). What it cannot know is left out: when running jobs finish, so `max_running` is not
 * applied, and jobs a worker takes from another engine in between.
 */
export interface PendingJobSnapshot {
  id: string;
  userId: string | null;
  cost: number;
  createdAt: string;
}

export interface AccountShareSnapshot {
  /** The account's virtual time now (fair_share.vtime; 0 when it has no row yet). */
  vtime: number;
  /** Its priority's weight (4, 2 or 1). */
  weight: number;
}

export interface FairQueueSnapshot {
  pending: readonly PendingJobSnapshot[];
  accounts: ReadonlyMap<string, AccountShareSnapshot>;
  /** The scheduler clock: the start tag of the latest claim (0 before any). */
  clock: number;
}

const byAge = (a: PendingJobSnapshot, b: PendingJobSnapshot) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * The pending jobs' ids in the order the scheduler will start them. `until`: stop once this job is placed (its index
 * is then the last one), so a single position costs no more than the jobs ahead of it.
 */
export function fairOrder(snapshot: FairQueueSnapshot, until?: string): string[] {
  const queues = new Map<string, PendingJobSnapshot[]>();
  const unowned: PendingJobSnapshot[] = [];
  for (const job of snapshot.pending) {
    if (job.userId === null) unowned.push(job);
    else {
      const queue = queues.get(job.userId);
      if (queue) queue.push(job);
      else queues.set(job.userId, [job]);
    }
  }
  const accounts = [...queues.entries()].map(([userId, jobs]) => {
    const share = snapshot.accounts.get(userId);
    return { userId, jobs: jobs.sort(byAge), next: 0, vtime: share?.vtime ?? 0, weight: share?.weight ?? 2 };
  });
  const order: string[] = [];
  let clock = snapshot.clock;
  for (;;) {
    let best: (typeof accounts)[number] | undefined;
    let bestTag = Infinity;
    for (const account of accounts) {
      if (account.next >= account.jobs.length) continue;
      const tag = Math.max(account.vtime, clock);
      if (
        !best ||
        tag < bestTag ||
        (tag === bestTag && (byAge(account.jobs[account.next], best.jobs[best.next]) < 0 || (account.jobs[account.next].createdAt === best.jobs[best.next].createdAt && account.userId < best.userId)))
      ) {
        best = account;
        bestTag = tag;
      }
    }
    if (!best) break;
    const job = best.jobs[best.next++];
    order.push(job.id);
    if (job.id === until) return order;
    clock = bestTag;
    best.vtime = bestTag + Math.max(1, job.cost) / best.weight;
  }
  for (const job of unowned.sort(byAge)) {
    order.push(job.id);
    if (job.id === until) return order;
  }
  return order;
}
