/**
 * Queue positions: for each queued request entry, an estimate of how many jobs the scheduler starts on its engine
 * before it. This is the one place that knows the claim order for that purpose: the fair order of the claim (issue
 * #10, docs/scheduling.md), replayed from a snapshot of each engine's queue by fairQueuePositions(). Every caller
 * (GET …/entries, the `queued` event) goes through it.
 */
import type { Repositories } from '../../store/repositories/repositories.ts';
import { fairQueuePositions } from './scheduling-service.ts';

/** Entry id → jobs ahead (0: next to start). Entries whose job is not waiting are absent. */
export async function queuePositions(repos: Pick<Repositories, 'jobs'>, entryIds: readonly string[]): Promise<Map<string, number>> {
  const positions = new Map<string, number>();
  if (entryIds.length === 0) return positions;
  const wanted = new Set(entryIds);
  for (const engine of await repos.jobs.pendingEnginesOf(entryIds)) {
    for (const [entryId, position] of await fairQueuePositions(repos.jobs, engine)) if (wanted.has(entryId)) positions.set(entryId, position);
  }
  return positions;
}
