/**
 * All repositories over one database handle. The store hands out one set for plain queries and a fresh set bound
 * to each transaction, so a service composes several tables' writes atomically without seeing SQL.
 */
import type { Kysely } from 'kysely';
import type { Dialect } from '../dialect.ts';
import type { DirectSqlite } from '../prepared-query.ts';
import type { Database } from '../schema.ts';
import { ApplicationsRepository } from './applications.repo.ts';
import { EntriesRepository } from './entries.repo.ts';
import { IdempotencyKeysRepository } from './idempotency.repo.ts';
import { EventsRepository } from './events.repo.ts';
import { FileDeletionsRepository } from './file-deletions.repo.ts';
import { ImagesRepository } from './images.repo.ts';
import { JobsRepository } from './jobs.repo.ts';
import { LedgerRepository } from './ledger.repo.ts';
import { OpsRepository } from './ops.repo.ts';
import { InvitesRepository } from './invites.repo.ts';
import { SessionsRepository } from './sessions.repo.ts';
import { ThreadsRepository } from './threads.repo.ts';
import { ThrottleCountersRepository } from './throttle-counters.repo.ts';
import { TokensRepository } from './tokens.repo.ts';
import { UsersRepository } from './users.repo.ts';
import { EntryWebhooksRepository, WebhookAttemptsRepository, WebhookDeliveriesRepository, WebhookSecretsRepository } from './webhooks.repo.ts';
import { WorkersRepository } from './workers.repo.ts';

export interface Repositories {
  users: UsersRepository;
  applications: ApplicationsRepository;
  tokens: TokensRepository;
  sessions: SessionsRepository;
  throttleCounters: ThrottleCountersRepository;
  invites: InvitesRepository;
  threads: ThreadsRepository;
  entries: EntriesRepository;
  events: EventsRepository;
  images: ImagesRepository;
  fileDeletions: FileDeletionsRepository;
  jobs: JobsRepository;
  ledger: LedgerRepository;
  workers: WorkersRepository;
  ops: OpsRepository;
  webhookSecrets: WebhookSecretsRepository;
  entryWebhooks: EntryWebhooksRepository;
  webhookDeliveries: WebhookDeliveriesRepository;
  webhookAttempts: WebhookAttemptsRepository;
  idempotencyKeys: IdempotencyKeysRepository;
}

/** `direct` (SQLite, outside transactions): lets hot prepared reads skip Kysely's executor (see prepared-query.ts). */
export function createRepositories(db: Kysely<Database>, dialect: Dialect, options: { direct?: DirectSqlite } = {}): Repositories {
  return {
    users: new UsersRepository(db, dialect),
    applications: new ApplicationsRepository(db),
    tokens: new TokensRepository(db),
    sessions: new SessionsRepository(db),
    throttleCounters: new ThrottleCountersRepository(db),
    invites: new InvitesRepository(db),
    threads: new ThreadsRepository(db, dialect, options.direct),
    entries: new EntriesRepository(db, dialect, options.direct),
    events: new EventsRepository(db),
    images: new ImagesRepository(db),
    fileDeletions: new FileDeletionsRepository(db),
    jobs: new JobsRepository(db, dialect),
    ledger: new LedgerRepository(db),
    workers: new WorkersRepository(db),
    ops: new OpsRepository(db, dialect),
    webhookSecrets: new WebhookSecretsRepository(db),
    entryWebhooks: new EntryWebhooksRepository(db),
    webhookDeliveries: new WebhookDeliveriesRepository(db, dialect),
    webhookAttempts: new WebhookAttemptsRepository(db),
    idempotencyKeys: new IdempotencyKeysRepository(db),
  };
}
