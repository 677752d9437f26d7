/**
 * The webhook outbox: what a request entry asked for (checked URL, event filter, signing application), and the one
 * place where an entry's lifecycle becomes deliveries: enqueueForEntry(). It is called inside the transaction that
 * changes the entry's state, so a delivery exists exactly when the change committed (nothing is lost between the
 * two, whatever crashes). The WebhookDispatcher sends what is queued here.
 */
import { systemClock, type Clock } from '../../domain/clock.ts';
import { entryView } from '../../domain/entry-view.ts';
import { AppError, type FieldErrors } from '../../domain/errors.ts';
import { isUuid } from '../../domain/ids.ts';
import { DEFAULT_WEBHOOK_EVENT_FILTERS, filterOf, WEBHOOK_EVENT_FILTERS, type WebhookEventType, type WebhookEventFilter } from '../../domain/webhooks.ts';
import type { DataStore } from '../../store/database.ts';
import type { Repositories } from '../../store/repositories/repositories.ts';
import type { WebhookDeliveryStatus } from '../../store/tables/webhooks.ts';
import { toEntry } from '../entries/entry-rows.ts';
import { checkWebhookTarget, type WebhookTargetPolicy } from './address-guard.ts';
import { newMessageId } from './signature.ts';
import type { WebhookSecretService } from './webhook-secrets.ts';

/** A state change of a request entry (the entry lifecycle publisher's events map onto these). */
export interface WebhookEntryEvent {
  type: WebhookEventType;
  userId: string;
  threadId: string;
  /** The request entry. */
  entryId: string;
}

/** The webhook fields of a submitted request. */
export interface WebhookRequestFields {
  webhook?: string;
  webhook_events_filter?: readonly WebhookEventFilter[];
}

/** A checked webhook target, ready to attach to the entry. */
export interface WebhookTarget {
  url: string;
  events: readonly WebhookEventFilter[];
  applicationId: string;
}

export interface WebhookAttempt {
  attempt: number;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  attemptedAt: string;
}

export interface WebhookDelivery {
  id: string;
  type: string;
  url: string;
  status: WebhookDeliveryStatus;
  attempts: WebhookAttempt[];
  nextAttemptAt: string | null;
  createdAt: string;
  finishedAt: string | null;
}

export interface WebhookOutboxDeps {
  store: DataStore;
  secrets: WebhookSecretService;
  policy: WebhookTargetPolicy;
  clock?: Clock;
}

export class WebhookOutbox {
  readonly #clock: Clock;
  readonly #listeners = new Set<() => void>();

  constructor(private readonly deps: WebhookOutboxDeps) {
    this.#clock = deps.clock ?? systemClock;
  }

  /**
   * Checks the webhook fields of a request: the URL (https, an address that may be reached: see address-guard.ts)
   * and that the request came with a bearer token (whose application signs). Undefined when there is no webhook;
   * field errors (to join the request's other 422 findings) otherwise.
   */
  async checkTarget(fields: WebhookRequestFields, applicationId: string | undefined): Promise<{ target?: WebhookTarget; errors: FieldErrors }> {
    if (fields.webhook === undefined || fields.webhook === '') {
      return { errors: {} };
    }
    if (!applicationId) {
      return { errors: { webhook: ['Webhooks need a bearer token: deliveries are signed with the secret of its application.'] } };
    }
    try {
      const url = await checkWebhookTarget(fields.webhook, this.deps.policy);
      const asked = fields.webhook_events_filter ?? DEFAULT_WEBHOOK_EVENT_FILTERS;
      const events = WEBHOOK_EVENT_FILTERS.filter((f) => asked.includes(f));
      return { target: { url, events, applicationId }, errors: {} };
    } catch (err) {
      if (err instanceof AppError && err.fields) return { errors: err.fields };
      throw err;
    }
  }

  /** Inside the entry's creation: records its webhook (and makes its application's secret if it has none). */
  async attach(tx: Repositories, userId: string, entryId: string, target: WebhookTarget): Promise<void> {
    await this.deps.secrets.ensure(tx, userId, target.applicationId);
    await tx.entryWebhooks.insert({
      entry_id: entryId,
      user_id: userId,
      application_id: target.applicationId,
      url: target.url,
      events: target.events.join(','),
      created_at: this.#clock().toISOString(),
    });
  }

  /**
   * THE entry → webhook hook: queues a delivery of `event` when the entry asked for a webhook whose filter selects
   * it. Call it inside the transaction of the state change (`tx`; store.repos works outside one, without the
   * atomicity). The payload is the entry as GET …/entries shows it at this moment, with its response entry.
   * Returns whether a delivery was queued.
   */
  async enqueueForEntry(tx: Repositories, event: WebhookEntryEvent): Promise<boolean> {
    const hook = await tx.entryWebhooks.find(event.userId, event.entryId);
    if (!hook || !hook.events.split(',').includes(filterOf(event.type))) return false;
    const rows = await tx.entries.requestWithResponse(event.userId, event.entryId);
    const requestRow = rows.find((r) => r.type === 'request');
    if (!requestRow) return false;
    const responseRow = rows.find((r) => r.type === 'response');
    const request = entryView(toEntry(requestRow));
    // A request deleted while it waited is cancelled in the same transaction that deletes it: say so.
    const data =
      event.type === 'entry.cancelled' && (request.status === 'queued' || request.status === 'running')
        ? { ...request, status: 'cancelled' as const, waiting_response: false, progress: null }
        : request;
    const now = this.#clock().toISOString();
    const payload = JSON.stringify({ type: event.type, timestamp: now, data: responseRow ? { ...data, response: entryView(toEntry(responseRow)) } : data });
    await tx.webhookDeliveries.insert({
      id: newMessageId(),
      user_id: event.userId,
      application_id: hook.application_id,
      thread_id: event.threadId,
      entry_id: event.entryId,
      event_type: event.type,
      url: hook.url,
      payload,
      status: 'pending',
      attempts: 0,
      next_attempt_at: now,
      lease_owner: null,
      lease_expires_at: null,
      last_status_code: null,
      last_error: null,
      created_at: now,
      finished_at: null,
    });
    // Wake the local dispatcher once the transaction has had time to commit (it also polls).
    setTimeout(() => this.#notify(), 20).unref();
    return true;
  }

  /** Inside an entry's deletion (after its cancellation event was queued): its webhook settings go with it. */
  async forget(tx: Repositories, userId: string, entryIds: readonly string[]): Promise<void> {
    await tx.entryWebhooks.deleteForEntries(userId, entryIds);
  }

  /** Called (best effort) after deliveries were queued. */
  onEnqueued(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The deliveries of a request entry with every attempt; 404 when the thread has no such entry for this user. */
  async deliveries(userId: string, threadId: string, entryId: string): Promise<WebhookDelivery[]> {
    const requestId = await this.#requestId(userId, threadId, entryId);
    const { repos } = this.deps.store;
    const rows = await repos.webhookDeliveries.listForEntry(userId, requestId);
    const attempts = await repos.webhookAttempts.listForDeliveries(
      userId,
      rows.map((r) => r.id),
    );
    return rows.map((r) => ({
      id: r.id,
      type: r.event_type,
      url: r.url,
      status: r.status,
      attempts: attempts
        .filter((a) => a.delivery_id === r.id)
        .map((a) => ({ attempt: Number(a.attempt), statusCode: a.status_code === null ? null : Number(a.status_code), error: a.error, durationMs: Number(a.duration_ms), attemptedAt: a.attempted_at })),
      nextAttemptAt: r.status === 'pending' ? r.next_attempt_at : null,
      createdAt: r.created_at,
      finishedAt: r.finished_at,
    }));
  }

  /** Sends a delivered or given-up delivery again (same webhook-id), with a fresh attempt budget. */
  async redeliver(userId: string, threadId: string, entryId: string, deliveryId: string): Promise<void> {
    const requestId = await this.#requestId(userId, threadId, entryId);
    const delivery = await this.deps.store.repos.webhookDeliveries.find(userId, deliveryId);
    if (!delivery || delivery.entry_id !== requestId) throw new AppError('not_found', 'Delivery not found.');
    if (!(await this.deps.store.repos.webhookDeliveries.redeliver(userId, deliveryId, this.#clock().toISOString()))) {
      throw new AppError('conflict', 'The delivery is still in progress: it can be sent again once it was delivered or given up.');
    }
    this.#notify();
  }

  async #requestId(userId: string, threadId: string, entryId: string): Promise<string> {
    const found = isUuid(threadId) && isUuid(entryId) ? await this.deps.store.repos.entries.findInThread(userId, threadId, entryId) : undefined;
    const requestId = found ? (found.type === 'request' ? found.id : found.request_id) : null;
    if (!requestId) throw new AppError('not_found', 'Entry not found.');
    return requestId;
  }

  #notify(): void {
    for (const listener of this.#listeners) listener();
  }
}
