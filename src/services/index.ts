/**
 * The services container: one place that wires store, queue, storage and engine into the services.
 * Add a service by adding a field here; routes, worker and CLI receive the whole container.
 */
import { resolve } from 'node:path';
import type { Config } from '../config.ts';
import { createJobQueue, type JobQueue } from '../queue/index.ts';
import { LocalFileStorage, type FileStorage } from '../storage/index.ts';
import type { Store } from '../store/database.ts';
import { CreditService } from './credits/credit-service.ts';
import { EntryService } from './entries/entry-service.ts';
import { defaultEngines, EngineCatalog, type EngineDefinition } from './generation/catalog.ts';
import { EngineThreadGenerator } from './generation/engine-generator.ts';
import { GenerationService } from './generation/generation-service.ts';
import type { ImageGenerator } from './generation/image-generator.ts';
import type { ApplicationService } from './identity/applications.ts';
import { CachedApplicationService } from './identity/cached-applications.ts';
import { UserService } from './identity/users.ts';
import { ThreadService } from './threads/thread-service.ts';
import { AccountService } from './web/accounts.ts';
import { LoginThrottle } from './web/login-throttle.ts';
import { SessionService } from './web/sessions.ts';

export interface Services {
  store: Store;
  config: Config;
  users: UserService;
  applications: ApplicationService;
  credits: CreditService;
  threads: ThreadService;
  entries: EntryService;
  engines: EngineCatalog;
  generation: GenerationService;
  generator: ImageGenerator;
  jobs: JobQueue;
  storage: FileStorage;
  /** Web UI: browser sessions, login throttling, self-service registration and login (issue 4). */
  sessions: SessionService;
  loginThrottle: LoginThrottle;
  accounts: AccountService;
  /** Releases the engine thread and the queue's connections (the store is closed by whoever opened it). */
  close(): Promise<void>;
}

export interface ServiceOverrides {
  generator?: ImageGenerator;
  storage?: FileStorage;
  jobs?: JobQueue;
  engines?: EngineDefinition[];
}

export function createServices(store: Store, config: Config, overrides: ServiceOverrides = {}): Services {
  const db = store.db;
  const jobs =
    overrides.jobs ?? createJobQueue(db, { dialect: store.dialect, queueUrl: config.queueUrl, queuePrefix: config.queuePrefix, leaseMs: config.jobLeaseMs });
  const storage = overrides.storage ?? new LocalFileStorage(resolve(config.dataDir, 'storage'));
  const generator = overrides.generator ?? new EngineThreadGenerator();
  const credits = new CreditService(db);
  const engines = new EngineCatalog(overrides.engines ?? defaultEngines(config.defaultModelDir), generator);
  const threads = new ThreadService(db, { queue: jobs, storage, credits });
  const entries = new EntryService(db, { threads, catalog: engines, credits, queue: jobs });
  const users = new UserService(db);
  const sessions = new SessionService(db);
  const loginThrottle = new LoginThrottle(db);
  const accounts = new AccountService({ users, sessions, throttle: loginThrottle, credits, signupCredits: config.signupCredits });
  const generation = new GenerationService({ db, queue: jobs, storage, credits, catalog: engines, generator, publicUrl: config.publicUrl });
  return {
    store,
    config,
    users,
    applications: new CachedApplicationService(db),
    credits,
    threads,
    entries,
    engines,
    generation,
    generator,
    jobs,
    storage,
    sessions,
    loginThrottle,
    accounts,
    async close() {
      try {
        await generator.close();
      } finally {
        await jobs.close?.();
      }
    },
  };
}
