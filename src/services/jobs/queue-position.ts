/**
 * Queue positions: for each queued request entry, an estimate of how many jobs the scheduler starts on its engine
 * before it. This is the one place that knows the claim order for that purpose: today jobs are claimed oldest first
 * per engine, so the estimate is the number of pending jobs of the same engine created earlier. When the claim order
 * changes (fair share between tenants, issue #10), replace this function's body with that order's estimate; every
 * caller (GET …/entries, the `queued` event) goes through it.
 */
import type { Repositories } from '../../store/repositories/repositories.ts';

/** Entry id → jobs ahead (0: next to start). Entries whose job is not waiting are absent. */
export function queuePositions(repos: Pick<Repositories, 'jobs'>, entryIds: readonly string[]): Promise<Map<string, number>> {
  return repos.jobs.pendingAhead(entryIds);
}
