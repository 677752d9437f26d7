import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EmbeddedJobQueue } from '../../src/queue/embedded-queue.ts';
import { AppError } from '../../src/services/errors.ts';
import { createApiContext, TUTORIAL_JSON, type ApiContext } from '../helpers/api-context.ts';

describe('CreditService', () => {
  let ctx: ApiContext;
  before(async () => {
    ctx = await createApiContext();
  });
  after(() => ctx.close());

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
    assert.deepEqual(ledger.items.map((l) => [l.kind, l.amount, l.balanceAfter]).sort(), [
      ['grant', -10, 20],
      ['grant', 30, 30],
    ]);
  });

  it('concurrent requests can never overspend: each reservation is one conditional UPDATE', async () => {
    const user = await ctx.user('race@example.com', 25);
    const thread = await ctx.services.threads.create(user.id, 'stablediffusion_text2img');
    const results = await Promise.allSettled([...Array(6)].map(() => ctx.services.entries.createRequest(user.id, thread.id, TUTORIAL_JSON)));
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    assert.equal(ok, 2);
    for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as AppError).code, 'insufficient_credits');
    assert.equal(await ctx.services.credits.balance(user.id), 5);
    const ledger = await ctx.services.credits.listLedger(user.id);
    assert.equal(ledger.items.filter((l) => l.kind === 'reserve').length, 2);
  });

  it('a job completed by a recovering process cannot be completed again by the one that lost its lease', async () => {
    await ctx.services.store.db.updateTable('jobs').set({ status: 'cancelled' }).where('status', '=', 'pending').execute();
    const user = await ctx.user('once@example.com', 100);
    const thread = await ctx.services.threads.create(user.id, 'stablediffusion_text2img');
    const entry = await ctx.services.entries.createRequest(user.id, thread.id, { ...TUTORIAL_JSON, images: 1, steps: 10 });
    const db = ctx.services.store.db;
    // Process A claims the job and "hangs"; its lease is then taken over by process B after expiry.
    const a = new EmbeddedJobQueue(db, { owner: 'otherhost:1:a', leaseMs: 1 });
    const jobA = (await a.claim())!;
    await new Promise((r) => setTimeout(r, 5));
    const b = ctx.services.jobs;
    assert.equal(await b.recoverStale(), 1);
    const jobB = (await b.claim())!;
    assert.equal(jobB.id, jobA.id);
    assert.equal(jobB.attempts, 2);
    assert.equal(await ctx.services.generation.run(jobB, new AbortController().signal), 'done');
    // A wakes up and tries to finish the same job with its own generation service run.
    const { GenerationService } = await import('../../src/services/generation/generation-service.ts');
    const genA = new GenerationService({ db, queue: a, storage: ctx.services.storage, credits: ctx.services.credits, catalog: ctx.services.engines, generator: ctx.services.generator, publicUrl: 'http://x' });
    assert.equal(await genA.run(jobA, new AbortController().signal), 'lost');
    const entries = await ctx.services.entries.list(user.id, thread.id);
    assert.deepEqual(entries.map((e) => e.type), ['request', 'response']);
    assert.equal(entries[0].id, entry.id);
    assert.equal(await ctx.services.credits.balance(user.id), 99);
    const ledger = (await ctx.services.credits.listLedger(user.id)).items.filter((l) => l.entryId === entry.id);
    assert.deepEqual(ledger.map((l) => l.kind).sort(), ['charge', 'reserve']);
  });

  it('a job that keeps killing its worker ends with an error response and a refund', async () => {
    await ctx.services.store.db.updateTable('jobs').set({ status: 'cancelled' }).where('status', '=', 'pending').execute();
    const user = await ctx.user('doomed@example.com', 100);
    const thread = await ctx.services.threads.create(user.id, 'stablediffusion_text2img');
    const entry = await ctx.services.entries.createRequest(user.id, thread.id, { ...TUTORIAL_JSON, images: 1, steps: 10 });
    await ctx.services.store.db.updateTable('jobs').set({ attempts: 3 }).where('entry_id', '=', entry.id).execute();
    const job = (await ctx.services.jobs.claim())!;
    assert.equal(job.attempts, 4);
    assert.equal(await ctx.services.generation.run(job, new AbortController().signal), 'failed');
    const [, response] = await ctx.services.entries.list(user.id, thread.id);
    assert.match(response.error ?? '', /stopped 3 times/);
    assert.equal(await ctx.services.credits.balance(user.id), 100);
  });
});
