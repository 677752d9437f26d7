/**
 * The lifecycle events of a request entry: one typed shape that the event stream (GET /threads/{guid}/events), the
 * wait mode and any other subscriber (webhooks) read. Events are produced by the services at each state change
 * (services/events/entry-events.ts), never by routes.
 *
 *   queued → started → progress* / preview* → completed | failed | cancelled
 */
import type { Entry, Progress } from './entry.ts';

export const ENTRY_EVENT_TYPES = ['queued', 'started', 'progress', 'preview', 'completed', 'failed', 'cancelled'] as const;
export type EntryEventType = (typeof ENTRY_EVENT_TYPES)[number];

/** Events after which the request waits for nothing more. */
export const FINAL_EVENT_TYPES: readonly EntryEventType[] = ['completed', 'failed', 'cancelled'];

/** Event types of which replay keeps only the latest per entry (they supersede each other). */
export const LATEST_ONLY_EVENT_TYPES: readonly EntryEventType[] = ['progress', 'preview'];

export interface PreviewData {
  /** 0-based index of the image within the request. */
  image: number;
  /** Denoising step on the request's scale. */
  step: number;
  /** `data:image/jpeg;base64,…`, at most 256 px on the long side. */
  dataUrl: string;
}

/** What each event carries (the service's shapes; the API renders them as JSON). */
export interface EntryEventPayloads {
  queued: { queuePosition: number };
  started: Record<string, never>;
  progress: Progress & { etaSeconds: number | null };
  preview: PreviewData;
  /** The response entry, as GET …/entries lists it. */
  completed: { response: Entry };
  failed: { error: string; response: Entry | null };
  /** `response`: the cancelled request's response entry (the images finished before the cancel, if any). */
  cancelled: { response: Entry | null };
}

/** One event of one request entry, before it is stored. */
export type EntryEventInput = {
  [T in EntryEventType]: { type: T; userId: string; threadId: string; entryId: string; data: EntryEventPayloads[T] };
}[EntryEventType];

/** A stored event: `seq` orders the events of a thread (the stream's event id). */
export type EntryEvent = EntryEventInput & { seq: number; createdAt: string };
