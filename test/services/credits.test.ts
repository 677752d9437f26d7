import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AppError } from '../../src/domain/errors.ts';
import { JOB_DEFINITIONS } from '../../src/domain/jobs.ts';
import { DatabaseJobQueue } from '../../src/queue/database-job-queue.ts';
import { InProcessNotifier } from '../../src/queue/in-process-notifier.ts';
import type { ClaimedJob } from '../../src/queue/job-queue.ts';
import { EntryService } from '../../src/services/entries/entry-service.ts';
import { GenerateJobHandler } from '../../src/services/jobs/generate-job-handler.ts';
import { createApiContext, TUTORIAL_JSON, type ApiContext } from '../helpers/api-context.ts';
import { steppingClock } from '../helpers/clock.ts';

describe('CreditService', () => {
  let ctx: ApiContext;
  const clock = steppingClock();
  before(async () => {
    ctx = await createApiContext({ overrides: { clock } });
  });
  after(() => ctx.close());

  /** Claims the next job, which must have a readable payload. */
  async function claim(queue = ctx.runtime.queue): Promise<ClaimedJob> {
    const claimed = await queue.claim();
    assert.ok(claimed && claimed.invalid === undefined, `a readable job: ${JSON.stringify(claimed)}`);
    return claimed.job;
  }

  it('grant() adds and removes credits through the ledger and never goes below zero', async () => {
    const { credits, users } = ctx.services;
    const user = await users.create('ledger@example.com', 'correct horse battery');
    assert.equal(await credits.grant(user.id, 30, 'welcome'), 30);
    assert.equal(await credits.grant(user.id, -10, 'correction'), 20);
    await assert.rejects(credits.grant(user.id, -21), (err: unknown) => err instanceof AppError && err.code === 'insufficient_credits');
    await assert.rejects(credits.grant(user.id, 0), (err: unknown) => err instanceof AppError && err.code === 'validation_failed');
    assert.equal(await credits.balance(user.id), 20);
    const ledger = await credits.listLedger(user.id, { page: 1, perPage: 10 });
    assert.equal(ledger.total, 2);
    assert.deepEqual(
      ledger.items.map((l) => [l.kind, l.amount, l.balanceAfter]),
      [
        ['grant', -10, 20],
        ['grant', 30, 30],
      ],
      'newest first',
    );
  });

  it('concurrent requests can never overspend: each reservation is one conditional UPDATE', async () => {
    const user = await ctx.user('race@example.com', 25);
    const thread = await ctx.services.threads.create(user.id, 'stablediffusion_text2img');
    const results = await Promise.allSettled([...Array(6)].map(() => ctx.services.entries.createRequest(user.id, { threadId: thread.id, body: TUTORIAL_JSON })));
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    assert.equal(ok, 2);
    for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as AppError).code, 'insufficient_credits');
    assert.equal(await ctx.services.credits.balance(user.id), 5);
    const ledger = await ctx.services.credits.listLedger(user.id);
    assert.equal(ledger.items.filter((l) => l.kind === 'reserve').length, 2);
  });

  it('a job completed by a recovering process cannot be completed again by the one that lost its lease', async () => {
    await ctx.store.db.updateTable('jobs').set({ status: 'cancelled' }).where('status', '=', 'pending').execute();
    const user = await ctx.user('once@example.com', 100);
    const thread = await ctx.services.threads.create(user.id, 'stablediffusion_text2img');
    const entry = await ctx.services.entries.createRequest(user.id, { threadId: thread.id, body: { ...TUTORIAL_JSON, images: 1, steps: 10 } });
    // Process A claims the job and "hangs"; its lease expires (the clock moves past it) and process B takes over.
    const a = new DatabaseJobQueue({ jobs: ctx.store.repos.jobs, definitions: JOB_DEFINITIONS, notifier: new InProcessNotifier(), owner: 'otherhost:1:a', leaseMs: 1000, clock });
    const jobA = await claim(a);
    clock.advance(2000);
    const b = ctx.runtime.queue;
    assert.equal(await b.recoverStale(), 1);
    const jobB = await claim(b);
    assert.equal(jobB.id, jobA.id);
    assert.equal(jobB.attempts, 2);
    assert.equal(await ctx.runtime.jobHandlers.generate.run(jobB, new AbortController().signal), 'done');
    // A wakes up and tries to finish the same job through its own services.
    const entriesA = new EntryService({ store: ctx.store, queue: a, credits: ctx.services.credits, engines: ctx.services.engines, events: ctx.services.events, cancels: ctx.services.cancels, clock });
    const handlerA = new GenerateJobHandler({ entries: entriesA, producer: ctx.services.producer, cancels: ctx.services.cancels });
    assert.equal(await handlerA.run(jobA, new AbortController().signal), 'lost');
    const entries = await ctx.services.entries.list(user.id, thread.id);
    assert.deepEqual(
      entries.map((e) => e.type),
      ['request', 'response'],
    );
    assert.equal(entries[0].id, entry.id);
    assert.equal(await ctx.services.credits.balance(user.id), 99);
    const ledger = (await ctx.services.credits.listLedger(user.id)).items.filter((l) => l.entryId === entry.id);
    assert.deepEqual(ledger.map((l) => l.kind).sort(), ['charge', 'reserve']);
  });

  it('a job that keeps killing its worker ends with an error response and a refund', async () => {
    await ctx.store.db.updateTable('jobs').set({ status: 'cancelled' }).where('status', '=', 'pending').execute();
    const user = await ctx.user('doomed@example.com', 100);
    const thread = await ctx.services.threads.create(user.id, 'stablediffusion_text2img');
    const entry = await ctx.services.entries.createRequest(user.id, { threadId: thread.id, body: { ...TUTORIAL_JSON, images: 1, steps: 10 } });
    await ctx.store.db.updateTable('jobs').set({ attempts: 3 }).where('entry_id', '=', entry.id).execute();
    const job = await claim();
    assert.equal(job.attempts, 4);
    assert.equal(await ctx.runtime.jobHandlers.generate.run(job, new AbortController().signal), 'failed');
    const [, response] = await ctx.services.entries.list(user.id, thread.id);
    assert.match(response.error ?? '', /stopped 3 times/);
    assert.equal(await ctx.services.credits.balance(user.id), 100);
  });

  it('a job whose stored payload no longer matches its schema fails cleanly: error response, refund, no crash', async () => {
    await ctx.store.db.updateTable('jobs').set({ status: 'cancelled' }).where('status', '=', 'pending').execute();
    const user = await ctx.user('unreadable@example.com', 100);
    const thread = await ctx.services.threads.create(user.id, 'stablediffusion_text2img');
    const entry = await ctx.services.entries.createRequest(user.id, { threadId: thread.id, body: { ...TUTORIAL_JSON, images: 1, steps: 10 } });
    assert.equal(await ctx.services.credits.balance(user.id), 99);
    await ctx.store.db.updateTable('jobs').set({ payload: JSON.stringify({ entryId: entry.id, request: 'garbled' }) }).where('entry_id', '=', entry.id).execute();
    const claimed = await ctx.runtime.queue.claim();
    assert.ok(claimed?.invalid, 'claimed as unreadable');
    assert.match(claimed.invalid, /does not match its schema/);
    await ctx.runtime.jobHandlers.generate.reject(claimed.job, claimed.invalid);
    const [request, response] = await ctx.services.entries.list(user.id, thread.id);
    assert.equal(request.status, 'failed');
    assert.equal(request.waitingResponse, false);
    assert.equal(response.type, 'response');
    assert.equal(response.error, 'Image generation failed: the request could not be read.');
    assert.equal(await ctx.services.credits.balance(user.id), 100, 'the reservation came back');
    const job = await ctx.store.db.selectFrom('jobs').select(['status', 'last_error']).where('entry_id', '=', entry.id).executeTakeFirstOrThrow();
    assert.equal(job.status, 'failed');
    assert.match(job.last_error ?? '', /does not match its schema/, 'the reason is kept for operators');
    await ctx.runtime.jobHandlers.generate.reject(claimed.job, claimed.invalid);
    assert.equal(await ctx.services.credits.balance(user.id), 100, 'refunded once');
  });
});
