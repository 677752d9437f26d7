/**
 * The published JSON shape of an entry (snake_case, Laravel-style timestamps): what GET …/entries lists, and what a
 * webhook's `data` carries. In the domain so that the API and the webhook outbox build it the same way.
 */
import type { Entry } from './entry.ts';

/** `2023-07-13T19:56:25.000000Z`, as the tutorial shows. */
export function timestamp(iso: string): string {
  return iso.replace(/\.(\d{3})Z$/, '.$1000Z');
}

export function entryView(e: Entry) {
  return {
    guid: e.id,
    thread_guid: e.threadId,
    type: e.type,
    error: e.error,
    content: e.content,
    waiting_response: e.waitingResponse,
    credits: e.credits,
    created_at: timestamp(e.createdAt),
    status: e.status,
    progress: e.progress,
    ...(e.queuePosition === undefined ? {} : { queue_position: e.queuePosition }),
    ...(e.etaSeconds === undefined ? {} : { eta_seconds: e.etaSeconds }),
    ...(e.requestId ? { request_guid: e.requestId } : {}),
  };
}

export type EntryView = ReturnType<typeof entryView>;
