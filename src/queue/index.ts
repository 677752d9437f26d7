export type { ClaimedJob, Executor, FinalJobStatus, JobQueue, JobSpec } from './job-queue.ts';
export { EmbeddedJobQueue, processOwnerId } from './embedded-queue.ts';
