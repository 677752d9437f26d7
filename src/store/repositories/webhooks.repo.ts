/**
 * The webhook tables: signing secrets per application, the webhook of each request entry, the delivery outbox and
 * its attempts. Tenant reads are scoped by user id. The outbox's claim is one conditional UPDATE (SKIP LOCKED on
 * PostgreSQL), so each due delivery is sent by one process at a time, and a sender that vanished loses its lease.
 */
import { sql, type Kysely, type Selectable } from 'kysely';
import type { Dialect } from '../dialect.ts';
import type { Database } from '../schema.ts';
import type { EntryWebhooksTable, WebhookAttemptsTable, WebhookDeliveriesTable, WebhookSecretsTable } from '../tables/webhooks.ts';

export type WebhookSecretRow = Selectable<WebhookSecretsTable>;
export type EntryWebhookRow = Selectable<EntryWebhooksTable>;
export type WebhookDeliveryRow = Selectable<WebhookDeliveriesTable>;
export type WebhookAttemptRow = Selectable<WebhookAttemptsTable>;

export class WebhookSecretsRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async find(userId: string, applicationId: string): Promise<WebhookSecretRow | undefined> {
    return this.db.selectFrom('webhook_secrets').selectAll().where('application_id', '=', applicationId).where('user_id', '=', userId).executeTakeFirst();
  }

  /** The signing secrets of an application, for the sender (no tenant in sight: the delivery row names the application). */
  async forApplication(applicationId: string): Promise<WebhookSecretRow | undefined> {
    return this.db.selectFrom('webhook_secrets').selectAll().where('application_id', '=', applicationId).executeTakeFirst();
  }

  /** Inserts the first secret unless the application has one (concurrent first reads keep one secret). */
  async insertIfMissing(row: WebhookSecretRow): Promise<void> {
    await this.db
      .insertInto('webhook_secrets')
      .values(row)
      .onConflict((oc) => oc.column('application_id').doNothing())
      .execute();
  }

  /** The current secret becomes the previous one (signing until `previousExpiresAt`), `secret` the current one. */
  async rotate(userId: string, applicationId: string, change: { secret: string; previousExpiresAt: string; rotatedAt: string }): Promise<boolean> {
    const result = await this.db
      .updateTable('webhook_secrets')
      .set({
        previous_secret: sql<string>`secret`,
        secret: change.secret,
        previous_expires_at: change.previousExpiresAt,
        rotated_at: change.rotatedAt,
      })
      .where('application_id', '=', applicationId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async deleteForApplication(userId: string, applicationId: string): Promise<void> {
    await this.db.deleteFrom('webhook_secrets').where('application_id', '=', applicationId).where('user_id', '=', userId).execute();
  }
}

export class EntryWebhooksRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: EntryWebhookRow): Promise<void> {
    await this.db.insertInto('entry_webhooks').values(row).execute();
  }

  async find(userId: string, entryId: string): Promise<EntryWebhookRow | undefined> {
    return this.db.selectFrom('entry_webhooks').selectAll().where('entry_id', '=', entryId).where('user_id', '=', userId).executeTakeFirst();
  }

  async deleteForEntries(userId: string, entryIds: readonly string[]): Promise<void> {
    if (entryIds.length === 0) return;
    await this.db.deleteFrom('entry_webhooks').where('user_id', '=', userId).where('entry_id', 'in', entryIds).execute();
  }
}

export class WebhookDeliveriesRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
  ) {}

  async insert(row: WebhookDeliveryRow): Promise<void> {
    await this.db.insertInto('webhook_deliveries').values(row).execute();
  }

  /**
   * Leases the delivery due longest ago to `owner` and counts the attempt: a pending one whose time has come, or
   * one whose sender's lease ran out (it died mid-delivery: sent again, same id). Undefined when none is due.
   */
  async claimDue(lease: { owner: string; now: Date; leaseMs: number }): Promise<WebhookDeliveryRow | undefined> {
    const now = lease.now.toISOString();
    return this.db
      .updateTable('webhook_deliveries')
      .set({
        status: 'delivering',
        lease_owner: lease.owner,
        lease_expires_at: new Date(lease.now.getTime() + lease.leaseMs).toISOString(),
        attempts: sql<number>`attempts + 1`,
      })
      .where('id', '=', (eb) => {
        const next = eb
          .selectFrom('webhook_deliveries')
          .select('id')
          .where((w) => w.or([w.and([w('status', '=', 'pending'), w('next_attempt_at', '<=', now)]), w.and([w('status', '=', 'delivering'), w('lease_expires_at', '<=', now)])]))
          .orderBy('next_attempt_at')
          .orderBy('id')
          .limit(1);
        return this.dialect === 'postgres' ? next.forUpdate().skipLocked() : next;
      })
      // Checked again on the row itself: a concurrent claimer that got there first makes this update nothing.
      .where((w) => w.or([w.and([w('status', '=', 'pending'), w('next_attempt_at', '<=', now)]), w.and([w('status', '=', 'delivering'), w('lease_expires_at', '<=', now)])]))
      .returningAll()
      .executeTakeFirst();
  }

  /** The attempt's outcome, if `owner` still holds the delivery: delivered, failed (given up) or pending again. */
  async settle(
    id: string,
    owner: string,
    change: { status: 'delivered' | 'failed' | 'pending'; nextAttemptAt?: string; statusCode: number | null; error: string | null; now: string },
  ): Promise<boolean> {
    const result = await this.db
      .updateTable('webhook_deliveries')
      .set({
        status: change.status,
        lease_owner: null,
        lease_expires_at: null,
        last_status_code: change.statusCode,
        last_error: change.error,
        ...(change.nextAttemptAt ? { next_attempt_at: change.nextAttemptAt } : {}),
        ...(change.status === 'pending' ? {} : { finished_at: change.now }),
      })
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .where('status', '=', 'delivering')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async listForEntry(userId: string, entryId: string): Promise<WebhookDeliveryRow[]> {
    return this.db.selectFrom('webhook_deliveries').selectAll().where('user_id', '=', userId).where('entry_id', '=', entryId).orderBy('created_at').orderBy('id').execute();
  }

  async find(userId: string, id: string): Promise<WebhookDeliveryRow | undefined> {
    return this.db.selectFrom('webhook_deliveries').selectAll().where('user_id', '=', userId).where('id', '=', id).executeTakeFirst();
  }

  /** Sends a finished (delivered or given-up) delivery again from now, with a fresh attempt budget. */
  async redeliver(userId: string, id: string, now: string): Promise<boolean> {
    const result = await this.db
      .updateTable('webhook_deliveries')
      .set({ status: 'pending', attempts: 0, next_attempt_at: now, finished_at: null })
      .where('id', '=', id)
      .where('user_id', '=', userId)
      .where('status', 'in', ['delivered', 'failed'])
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Finished deliveries (and their attempts) older than `before`. */
  async deleteFinishedBefore(before: string): Promise<number> {
    const old = this.db.selectFrom('webhook_deliveries').select('id').where('status', 'in', ['delivered', 'failed']).where('finished_at', '<', before);
    await this.db.deleteFrom('webhook_attempts').where('delivery_id', 'in', old).execute();
    const result = await this.db.deleteFrom('webhook_deliveries').where('status', 'in', ['delivered', 'failed']).where('finished_at', '<', before).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

export class WebhookAttemptsRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: WebhookAttemptRow): Promise<void> {
    await this.db.insertInto('webhook_attempts').values(row).execute();
  }

  async listForDeliveries(userId: string, deliveryIds: readonly string[]): Promise<WebhookAttemptRow[]> {
    if (deliveryIds.length === 0) return [];
    return this.db
      .selectFrom('webhook_attempts')
      .selectAll()
      .where('user_id', '=', userId)
      .where('delivery_id', 'in', deliveryIds)
      .orderBy('attempted_at')
      .orderBy('attempt')
      .execute();
  }
}
