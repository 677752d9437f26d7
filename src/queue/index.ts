export type { ClaimedJob, Executor, FinalJobStatus, JobQueue, JobSpec } from './job-queue.ts';
export { EmbeddedJobQueue, processOwnerId } from './embedded-queue.ts';
export { RedisJobQueue } from './redis-queue.ts';
import type { Dialect } from '../store/database.ts';
import { EmbeddedJobQueue } from './embedded-queue.ts';
import type { Executor, JobQueue } from './job-queue.ts';
import { RedisJobQueue } from './redis-queue.ts';

/** The queue the configuration selects: embedded (default) or Redis wake-ups over the same durable jobs table. */
export function createJobQueue(db: Executor, options: { dialect: Dialect; queueUrl?: string; queuePrefix?: string; leaseMs?: number }): JobQueue {
  if (options.queueUrl) return new RedisJobQueue(db, { dialect: options.dialect, url: options.queueUrl, prefix: options.queuePrefix, leaseMs: options.leaseMs });
  return new EmbeddedJobQueue(db, { dialect: options.dialect, leaseMs: options.leaseMs });
}
