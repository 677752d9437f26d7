/**
 * Sends the outbox's deliveries. Any process may run one (API and worker processes do; several at once are safe):
 * a delivery is leased to one sender by a conditional UPDATE, and the lease outlives the attempt's timeout, so a
 * sender that died (kill -9 mid-delivery) leaves a delivery that another sender takes over after the lease: it is
 * sent again with the same `webhook-id` (at least once; receivers drop repeats by id). Each attempt is signed anew
 * (fresh timestamp) with the application's current secret, and the previous one during a rotation's overlap.
 * Anything but a 2xx is retried with exponential backoff and jitter (RETRY_DELAYS_MS), then given up.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { systemClock, type Clock } from '../../domain/clock.ts';
import { silentLogger, type OperationalLogger } from '../../domain/logger.ts';
import type { DataStore } from '../../store/database.ts';
import type { WebhookDeliveryRow } from '../../store/repositories/webhooks.repo.ts';
import { signatureHeaders } from './signature.ts';
import type { WebhookSend } from './webhook-sender.ts';
import type { WebhookSecretService } from './webhook-secrets.ts';

/**
 * Time from attempt n to attempt n + 1 (before jitter): the first retry after 5 s, 12 attempts over about 29 h
 * (10 within about 8 h), like the schedules of Stripe and Svix.
 */
export const RETRY_DELAYS_MS = [5_000, 30_000, 120_000, 300_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000, 28_800_000, 43_200_000] as const;
export const MAX_ATTEMPTS = RETRY_DELAYS_MS.length + 1;
/** Each delay is scaled by a random factor in [1 - JITTER, 1 + JITTER], so receivers that failed together are not retried together. */
export const JITTER = 0.2;

export type DeliveryOutcome = 'delivered' | 'retried' | 'failed';

export interface WebhookDispatcherDeps {
  store: DataStore;
  secrets: WebhookSecretService;
  send: WebhookSend;
  clock?: Clock;
  /** Lease of a delivery being sent; longer than the send timeout (default 60 s). */
  leaseMs?: number;
  /** How often the outbox is polled for due deliveries (default 1 s). */
  pollMs?: number;
  /** Deliveries sent at once by this process (default 4). */
  concurrency?: number;
  /** A number in [0, 1) (default Math.random), for the jitter. */
  random?: () => number;
  /** Each attempt's outcome (the metrics counter). */
  onOutcome?: (outcome: DeliveryOutcome) => void;
  logger?: OperationalLogger;
}

/** The delay after attempt `attempt` (1-based), jittered. */
export function retryDelayMs(attempt: number, random: () => number = Math.random): number {
  const base = RETRY_DELAYS_MS[Math.min(attempt, RETRY_DELAYS_MS.length) - 1];
  return Math.round(base * (1 - JITTER + 2 * JITTER * random()));
}

export class WebhookDispatcher {
  readonly #clock: Clock;
  readonly #owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  readonly #log: OperationalLogger;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<number> | undefined;
  #again = false;
  #stopped = true;
  /** stop() was called: lanes finish the attempt in hand and claim nothing more. */
  #closing = false;

  constructor(private readonly deps: WebhookDispatcherDeps) {
    this.#clock = deps.clock ?? systemClock;
    this.#log = deps.logger ?? silentLogger;
  }

  /** Polls the outbox until stop(). */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#closing = false;
    this.#timer = setInterval(() => this.wake(), this.deps.pollMs ?? 1000);
    this.#timer.unref();
    this.wake();
  }

  /** Sends what is due now, soon (coalesced with a run in progress). */
  wake(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    void this.runOnce();
  }

  /**
   * Sends every delivery due now (with `concurrency` at a time) and returns how many attempts were made. Tests call
   * it directly, with an injected clock, instead of waiting for the timer.
   */
  runOnce(): Promise<number> {
    this.#running ??= (async () => {
      let total = 0;
      try {
        do {
          this.#again = false;
          const lanes = Array.from({ length: this.deps.concurrency ?? 4 }, async () => {
            let made = 0;
            while (!this.#closing) {
              const delivery = await this.deps.store.repos.webhookDeliveries.claimDue({ owner: this.#owner, now: this.#clock(), leaseMs: this.deps.leaseMs ?? 60_000 });
              if (!delivery) return made;
              await this.#attempt(delivery);
              made += 1;
            }
            return made;
          });
          total += (await Promise.all(lanes)).reduce((a, b) => a + b, 0);
        } while (this.#again && !this.#stopped);
      } catch (err) {
        this.#log.error({ err }, 'webhook delivery run failed; it runs again later');
      } finally {
        this.#running = undefined;
      }
      return total;
    })();
    return this.#running;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#closing = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  async #attempt(delivery: WebhookDeliveryRow): Promise<void> {
    const started = this.#clock();
    const attempt = Number(delivery.attempts);
    const secrets = await this.deps.secrets.signingSecrets(delivery.application_id, started);
    let statusCode: number | null = null;
    let error: string | null;
    const t0 = performance.now();
    if (secrets.length === 0) {
      error = 'the application was deleted: there is no secret to sign with';
    } else {
      const headers = signatureHeaders(secrets, delivery.id, Math.floor(started.getTime() / 1000), delivery.payload);
      const result = await this.deps.send({ url: delivery.url, headers, body: delivery.payload });
      statusCode = result.statusCode ?? null;
      error = result.error ?? null;
    }
    const durationMs = Math.round(performance.now() - t0);
    const delivered = statusCode !== null && statusCode >= 200 && statusCode < 300;
    const givingUp = !delivered && (attempt >= MAX_ATTEMPTS || secrets.length === 0);
    const now = this.#clock();
    const outcome: DeliveryOutcome = delivered ? 'delivered' : givingUp ? 'failed' : 'retried';
    const settled = await this.deps.store.transaction(async (tx) => {
      const ok = await tx.webhookDeliveries.settle(delivery.id, this.#owner, {
        status: delivered ? 'delivered' : givingUp ? 'failed' : 'pending',
        nextAttemptAt: delivered || givingUp ? undefined : new Date(now.getTime() + retryDelayMs(attempt, this.deps.random)).toISOString(),
        statusCode,
        error: error && error.slice(0, 300),
        now: now.toISOString(),
      });
      // Only the holder records the attempt: one taken over meanwhile is recorded by its new sender.
      if (ok) {
        await tx.webhookAttempts.insert({
          id: randomUUID(),
          delivery_id: delivery.id,
          user_id: delivery.user_id,
          attempt,
          status_code: statusCode,
          error: error && error.slice(0, 300),
          duration_ms: durationMs,
          attempted_at: started.toISOString(),
        });
      }
      return ok;
    });
    if (!settled) return;
    this.deps.onOutcome?.(outcome);
    if (outcome === 'failed') this.#log.warn({ deliveryId: delivery.id, entryId: delivery.entry_id, attempts: attempt, error }, 'webhook delivery given up');
  }
}
