/**
 * EntryEvents and the entry_events table: numbering per thread (also under concurrent writers), latest-only
 * progress and previews, replay scoped by user, live delivery to a thread's subscribers and to onPublished
 * listeners, and the retention sweep that keeps each thread's newest event (so numbers never restart).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { EntryEvent } from '../../src/domain/entry-events.ts';
import { InProcessBroadcast } from '../../src/queue/broadcast.ts';
import { EntryEvents, EVENT_RETENTION_MS } from '../../src/services/events/entry-events.ts';
import type { Store } from '../../src/store/database.ts';
import { steppingClock } from '../helpers/clock.ts';
import { openTestStore } from '../helpers/scale-out.ts';

describe('EntryEvents', () => {
  let store: Store;
  const clock = steppingClock(Date.parse('2026-01-01T00:00:00Z'));
  let events: EntryEvents;

  before(async () => {
    store = await openTestStore('events');
    events = new EntryEvents({ store, broadcast: new InProcessBroadcast(), clock });
  });
  after(() => store.close());

  const base = { userId: 'u1', threadId: 't1', entryId: 'e1' };

  it('numbers events per thread, keeps only the latest progress and preview per entry, and replays per user', async () => {
    const live: EntryEvent[] = [];
    const local: EntryEvent[] = [];
    const unsubscribe = events.subscribe('t1', (e) => live.push(e));
    const unlisten = events.onPublished((e) => local.push(e));
    await events.ready();
    await events.publish({ ...base, type: 'queued', data: { queuePosition: 3 } });
    await events.publish({ ...base, type: 'started', data: {} });
    for (let step = 1; step <= 3; step++) await events.publish({ ...base, type: 'progress', data: { step, steps: 3, image: 0, images: 1, etaSeconds: 3 - step } });
    await events.publish({ ...base, type: 'preview', data: { image: 0, step: 2, dataUrl: 'data:image/jpeg;base64,AA==' } });
    await events.publish({ ...base, threadId: 't2', type: 'queued', data: { queuePosition: 0 } });
    await new Promise((r) => setImmediate(r));
    unsubscribe();
    unlisten();

    assert.deepEqual(live.map((e) => e.seq), [1, 2, 3, 4, 5, 6], "the thread's subscriber gets its events, numbered in order");
    assert.equal(local.length, 7, 'onPublished sees every event this process publishes');
    assert.equal((await events.replay('u1', 't2', 0))[0].seq, 1, 'another thread has its own numbers');

    const replay = await events.replay('u1', 't1', 0);
    assert.deepEqual(replay.map((e) => `${e.seq}:${e.type}`), ['1:queued', '2:started', '5:progress', '6:preview']);
    assert.deepEqual(replay[2].data, { step: 3, steps: 3, image: 0, images: 1, etaSeconds: 0 });
    assert.deepEqual((await events.replay('u1', 't1', 2)).map((e) => e.seq), [5, 6]);
    assert.deepEqual(await events.replay('someone-else', 't1', 0), [], 'replay is scoped by user');
  });

  it('concurrent writers never take the same number', async () => {
    const seqs = await Promise.all(Array.from({ length: 20 }, (_, i) => events.publish({ ...base, threadId: 't3', entryId: `e${i}`, type: 'started', data: {} })));
    assert.deepEqual(seqs.map((e) => e!.seq).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it('the sweep deletes events past the retention but keeps each thread\'s newest, so numbering goes on', async () => {
    clock.advance(EVENT_RETENTION_MS + 60_000);
    const deleted = await events.sweep();
    assert.ok(deleted > 0);
    assert.deepEqual((await events.replay('u1', 't1', 0)).map((e) => e.seq), [6]);
    const next = await events.publish({ ...base, type: 'completed', data: { response: { id: 'r', threadId: 't1', type: 'response', requestId: 'e1', content: [], error: null, waitingResponse: false, credits: 1, status: 'done', progress: null, createdAt: '', updatedAt: '' } } });
    assert.equal(next!.seq, 7);
  });
});
