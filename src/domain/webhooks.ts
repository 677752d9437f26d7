/** The webhook fields of a request entry and the events they select; shared by the request schema and the outbox. */

/** `start`: when generation starts; `completed`: when the request ends (done, failed or cancelled). */
export const WEBHOOK_EVENT_FILTERS = ['start', 'completed'] as const;
export type WebhookEventFilter = (typeof WEBHOOK_EVENT_FILTERS)[number];
export const DEFAULT_WEBHOOK_EVENT_FILTERS: readonly WebhookEventFilter[] = ['completed'];

export const WEBHOOK_EVENT_TYPES = ['entry.started', 'entry.completed', 'entry.failed', 'entry.cancelled'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** Which filter selects an event type. */
export function filterOf(type: WebhookEventType): WebhookEventFilter {
  return type === 'entry.started' ? 'start' : 'completed';
}

/**
 * The webhook event of an entry lifecycle event type (`started`, `completed`, `failed`, `cancelled`); undefined for
 * the types webhooks do not carry (`queued`, `progress`, `preview`).
 */
export function webhookEventOf(lifecycleType: string): WebhookEventType | undefined {
  const type = `entry.${lifecycleType}`;
  return (WEBHOOK_EVENT_TYPES as readonly string[]).includes(type) ? (type as WebhookEventType) : undefined;
}
