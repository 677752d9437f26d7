/**
 * Each application's webhook signing secret. Made on first use; rotating it keeps the old one signing for
 * ROTATION_OVERLAP_MS (deliveries then carry both signatures), so receivers can switch without losing events.
 * Every tenant method is scoped by user id: another account's application answers 404.
 */
import { systemClock, type Clock } from '../../domain/clock.ts';
import { AppError } from '../../domain/errors.ts';
import { isUuid } from '../../domain/ids.ts';
import type { DataStore } from '../../store/database.ts';
import type { Repositories } from '../../store/repositories/repositories.ts';
import { newWebhookSecret } from './signature.ts';

export const ROTATION_OVERLAP_MS = 24 * 3600_000;

export interface WebhookSecret {
  secret: string;
  /** Until when the secret before the last rotation still signs (null: no rotation in the last 24 h). */
  previousExpiresAt: string | null;
}

export class WebhookSecretService {
  readonly #clock: Clock;

  constructor(
    private readonly store: DataStore,
    clock: Clock = systemClock,
  ) {
    this.#clock = clock;
  }

  /** The application's secret (made now if it has none). */
  async get(userId: string, applicationId: string): Promise<WebhookSecret> {
    await this.#requireApplication(userId, applicationId);
    await this.ensure(this.store.repos, userId, applicationId);
    return this.#read(userId, applicationId);
  }

  /** A new secret; the old one keeps signing for 24 h. */
  async rotate(userId: string, applicationId: string): Promise<WebhookSecret> {
    await this.#requireApplication(userId, applicationId);
    await this.ensure(this.store.repos, userId, applicationId);
    const now = this.#clock();
    await this.store.repos.webhookSecrets.rotate(userId, applicationId, {
      secret: newWebhookSecret(),
      previousExpiresAt: new Date(now.getTime() + ROTATION_OVERLAP_MS).toISOString(),
      rotatedAt: now.toISOString(),
    });
    return this.#read(userId, applicationId);
  }

  /** Makes the application's first secret unless it has one (idempotent; `tx` may be a transaction). */
  async ensure(tx: Repositories, userId: string, applicationId: string): Promise<void> {
    await tx.webhookSecrets.insertIfMissing({
      application_id: applicationId,
      user_id: userId,
      secret: newWebhookSecret(),
      previous_secret: null,
      previous_expires_at: null,
      created_at: this.#clock().toISOString(),
      rotated_at: null,
    });
  }

  /** The secrets that sign a delivery now, current first; empty when the application is gone. */
  async signingSecrets(applicationId: string, now: Date): Promise<string[]> {
    const row = await this.store.repos.webhookSecrets.forApplication(applicationId);
    if (!row) return [];
    const previousValid = row.previous_secret && row.previous_expires_at && Date.parse(row.previous_expires_at) > now.getTime();
    return previousValid && row.previous_secret ? [row.secret, row.previous_secret] : [row.secret];
  }

  async #read(userId: string, applicationId: string): Promise<WebhookSecret> {
    const row = await this.store.repos.webhookSecrets.find(userId, applicationId);
    if (!row) throw new AppError('not_found', 'Application not found.');
    const now = this.#clock().getTime();
    const overlap = row.previous_expires_at && Date.parse(row.previous_expires_at) > now ? row.previous_expires_at : null;
    return { secret: row.secret, previousExpiresAt: overlap };
  }

  async #requireApplication(userId: string, applicationId: string): Promise<void> {
    const found = isUuid(applicationId) ? await this.store.repos.applications.find(userId, applicationId) : undefined;
    if (!found) throw new AppError('not_found', 'Application not found.');
  }
}
