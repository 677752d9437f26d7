/** The worker loop with stand-in handlers (no engine): startup check, dispatch by kind, unreadable payloads, shutdown. */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { steppingClock } from '../helpers/clock.ts';
import { openTestStore } from '../helpers/scale-out.ts';
import { JOB_DEFINITIONS } from '../../src/domain/jobs.ts';
import { DatabaseJobQueue } from '../../src/queue/database-job-queue.ts';
import { InProcessNotifier } from '../../src/queue/in-process-notifier.ts';
import type { JobHandlers } from '../../src/queue/job-handler.ts';
import type { LeasedJob } from '../../src/queue/job-queue.ts';
import type { Store } from '../../src/store/database.ts';
import { JobWorker } from '../../src/worker/job-worker.ts';

const REQUEST = { prompts: [{ text: 'x', weight: 1 }], engine: 'e', style: null, images: 1, steps: 10, resolution: '64x64' };

describe('JobWorker', () => {
  let store: Store;
  let queue: DatabaseJobQueue;
  before(async () => {
    store = await openTestStore('worker');
  });
  after(async () => {
    await queue?.close();
    await store.close();
  });
  beforeEach(async () => {
    await store.db.deleteFrom('jobs').execute();
    queue = new DatabaseJobQueue({ jobs: store.repos.jobs, definitions: JOB_DEFINITIONS, notifier: new InProcessNotifier(), clock: steppingClock() });
  });

  const enqueue = (entryId: string) =>
    store.transaction((tx) => queue.enqueue(tx, { kind: 'generate', payload: { entryId, threadId: 't', userId: 'u', aiVersionCode: 'v', request: REQUEST, seed: 1, cost: 1, engine: REQUEST.engine }, entryId, userId: 'u', engine: REQUEST.engine }));

  /** Handlers that record what they were given and settle when told. */
  function recordingHandlers() {
    const ran: string[] = [];
    const rejected: [LeasedJob, string][] = [];
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    const handlers: JobHandlers = {
      generate: {
        async run(job) {
          ran.push(job.payload.entryId);
          await store.transaction((tx) => queue.finish(tx, job, { status: 'done' }));
          done();
          return 'done';
        },
        async reject(job, reason) {
          rejected.push([job, reason]);
          await store.transaction((tx) => queue.finish(tx, job, { status: 'failed', error: reason }));
          done();
        },
      },
    };
    return { handlers, ran, rejected, finished };
  }

  it('refuses to start unless every job kind has exactly one handler', async () => {
    const incomplete = {} as unknown as JobHandlers; // what a plugin or JS caller could hand over
    await assert.rejects(new JobWorker({ queue, handlers: incomplete }).start(), /Cannot start the worker: no handler for job kind "generate"/);
    const extra = { ...recordingHandlers().handlers, resize: recordingHandlers().handlers.generate } as JobHandlers;
    await assert.rejects(new JobWorker({ queue, handlers: extra }).start(), /unknown job kind "resize"/);
    assert.deepEqual(Object.keys(JOB_DEFINITIONS), ['generate']);
  });

  it('dispatches a claimed job to the handler of its kind with the typed payload', async () => {
    const { handlers, ran, finished } = recordingHandlers();
    const worker = new JobWorker({ queue, handlers }, { idleMs: 60_000 });
    await worker.start();
    await enqueue('entry-a');
    queue.wake();
    await finished;
    await worker.stop();
    assert.deepEqual(ran, ['entry-a']);
    assert.equal((await store.db.selectFrom('jobs').select('status').executeTakeFirstOrThrow()).status, 'done');
  });

  it("hands an unreadable payload to the handler's reject() with the reason, and keeps running", async () => {
    const { handlers, ran, rejected, finished } = recordingHandlers();
    await enqueue('entry-b');
    await store.db.updateTable('jobs').set({ payload: '{"entryId": 42}' }).execute();
    const worker = new JobWorker({ queue, handlers }, { idleMs: 60_000 });
    await worker.start();
    await finished;
    await worker.stop();
    assert.deepEqual(ran, []);
    assert.equal(rejected.length, 1);
    assert.equal(rejected[0][0].entryId, 'entry-b');
    assert.match(rejected[0][1], /does not match its schema/);
    assert.equal((await store.db.selectFrom('jobs').select('status').executeTakeFirstOrThrow()).status, 'failed');
  });

  it('stop() aborts a running job and hands it back without using up an attempt', async () => {
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const handlers: JobHandlers = {
      generate: {
        run: (_job, signal) =>
          new Promise((_resolve, reject) => {
            started();
            signal.addEventListener('abort', () => reject(signal.reason), { once: true });
          }),
        reject: async () => undefined,
      },
    };
    await enqueue('entry-c');
    const worker = new JobWorker({ queue, handlers }, { idleMs: 60_000 });
    await worker.start();
    await running;
    await worker.stop();
    const row = await store.db.selectFrom('jobs').select(['status', 'attempts']).executeTakeFirstOrThrow();
    assert.deepEqual({ ...row, attempts: Number(row.attempts) }, { status: 'pending', attempts: 0 });
  });
});
