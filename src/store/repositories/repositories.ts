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
import { ImagesRepository } from './images.repo.ts';
import { JobsRepository } from './jobs.repo.ts';
import { LedgerRepository } from './ledger.repo.ts';
import { LoginFailuresRepository } from './login-failures.repo.ts';
import { SessionsRepository } from './sessions.repo.ts';
import { ThreadsRepository } from './threads.repo.ts';
import { TokensRepository } from './tokens.repo.ts';
import { UsersRepository } from './users.repo.ts';
import { WorkersRepository } from './workers.repo.ts';

export interface Repositories {
  users: UsersRepository;
  applications: ApplicationsRepository;
  tokens: TokensRepository;
  sessions: SessionsRepository;
  loginFailures: LoginFailuresRepository;
  threads: ThreadsRepository;
  entries: EntriesRepository;
  images: ImagesRepository;
  jobs: JobsRepository;
  ledger: LedgerRepository;
  workers: WorkersRepository;
}

/** `direct` (SQLite, outside transactions): lets hot prepared reads skip Kysely's executor (see prepared-query.ts). */
export function createRepositories(db: Kysely<Database>, dialect: Dialect, options: { direct?: DirectSqlite } = {}): Repositories {
  return {
    users: new UsersRepository(db),
    applications: new ApplicationsRepository(db),
    tokens: new TokensRepository(db),
    sessions: new SessionsRepository(db),
    loginFailures: new LoginFailuresRepository(db),
    threads: new ThreadsRepository(db, dialect, options.direct),
    entries: new EntriesRepository(db, dialect, options.direct),
    images: new ImagesRepository(db),
    jobs: new JobsRepository(db, dialect),
    ledger: new LedgerRepository(db),
    workers: new WorkersRepository(db),
  };
}
