/** The webhook fields of a request entry and the events they select; shared by the request schema and the outbox. */

/** `start`: when generation starts; `completed`: when the request ends (done, failed or cancelled). */
export const WEBHOOK_EVENT_FILTERS = ['start', 'completed'] as const;
export type WebhookEventFilter = (typeof WEBHOOK_EVENT_FILTERS)[number];
export const DEFAULT_WEBHOOK_EVENT_FILTERS: readonly WebhookEventFilter[] = ['completed'];

export const ENTRY_EVENT_TYPES = ['entry.started', 'entry.completed', 'entry.failed', 'entry.cancelled'] as const;
export type EntryEventType = (typeof ENTRY_EVENT_TYPES)[number];

/** Which filter selects an event type. */
export function filterOf(type: EntryEventType): WebhookEventFilter {
  return type === 'entry.started' ? 'start' : 'completed';
}
