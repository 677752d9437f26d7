/** Webhooks (signing secrets, the outbox, attempts) and Idempotency-Key records. Times are ISO-8601 UTC text. */

/**
 * An application's webhook signing secret. It has to be stored readable (the server signs with it), like the
 * HMAC keys of every webhook sender; it is shown only to the application's owner.
 */
export interface WebhookSecretsTable {
  application_id: string;
  user_id: string;
  /** `whsec_` + base64 of 32 random bytes. */
  secret: string;
  /** The secret before the last rotation, still signing until `previous_expires_at`. */
  previous_secret: string | null;
  previous_expires_at: string | null;
  created_at: string;
  rotated_at: string | null;
}

/** The webhook a request entry asked for. */
export interface EntryWebhooksTable {
  entry_id: string;
  user_id: string;
  /** The application of the token that sent the request: its secret signs the deliveries. */
  application_id: string;
  url: string;
  /** Comma-separated filter: `start`, `completed`. */
  events: string;
  created_at: string;
}

export type WebhookDeliveryStatus = 'pending' | 'delivering' | 'delivered' | 'failed';

/** The outbox: one row per event to deliver; its id is the `webhook-id` header of every attempt. */
export interface WebhookDeliveriesTable {
  id: string;
  user_id: string;
  application_id: string;
  thread_id: string;
  entry_id: string;
  event_type: string;
  url: string;
  /** The exact JSON body every attempt sends. */
  payload: string;
  status: WebhookDeliveryStatus;
  attempts: number;
  next_attempt_at: string;
  /** Who is sending it now (`delivering`), and until when; a vanished sender's delivery is taken over after it. */
  lease_owner: string | null;
  lease_expires_at: string | null;
  last_status_code: number | null;
  last_error: string | null;
  created_at: string;
  finished_at: string | null;
}

export interface WebhookAttemptsTable {
  id: string;
  delivery_id: string;
  user_id: string;
  attempt: number;
  /** The receiver's HTTP status; null when there was none (refused address, timeout, connection error). */
  status_code: number | null;
  error: string | null;
  duration_ms: number;
  attempted_at: string;
}

export type IdempotencyStatus = 'processing' | 'done';

/** An Idempotency-Key of an account: the first request's fingerprint and, once it finished, its answer. */
export interface IdempotencyKeysTable {
  user_id: string;
  key: string;
  fingerprint: string;
  status: IdempotencyStatus;
  /** Random token of the request that holds the key while `processing` (its completion is conditional on it). */
  claim: string;
  /** A `processing` key older than this belongs to a request that died before finishing: it may be claimed again. */
  locked_until: string;
  response_status: number | null;
  /** JSON of the stored result. */
  response_body: string | null;
  created_at: string;
  expires_at: string;
}

export interface WebhookTables {
  webhook_secrets: WebhookSecretsTable;
  entry_webhooks: EntryWebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  idempotency_keys: IdempotencyKeysTable;
}
