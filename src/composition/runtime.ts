/**
 * The composition root: the one place that builds config → store → queue → storage → services → worker (and the
 * HTTP app), for `sdapi serve`, `sdapi worker`, the account commands, tests and benches alike. Nothing else
 * constructs a service; tests swap parts through RuntimeOverrides instead of switches in production code.
 */
import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApp, type AppDeps } from '../api/app.ts';
import { projectRoot } from '../config/project-root.ts';
import type { Config } from '../config/load-config.ts';
import { systemClock, type Clock } from '../domain/clock.ts';
import { JOB_DEFINITIONS } from '../domain/jobs.ts';
import { DatabaseJobQueue } from '../queue/database-job-queue.ts';
import { InProcessNotifier } from '../queue/in-process-notifier.ts';
import type { JobHandlers } from '../queue/job-handler.ts';
import type { JobQueue } from '../queue/job-queue.ts';
import type { WorkNotifier } from '../queue/work-notifier.ts';
import { CreditService } from '../services/credits/credit-service.ts';
import { EntryService } from '../services/entries/entry-service.ts';
import { FleetStatus } from '../services/fleet/fleet-status.ts';
import { QueueSweeper } from '../services/fleet/queue-sweeper.ts';
import { planDevices } from '../services/generation/device-plan.ts';
import { EngineCatalog } from '../services/generation/engine-catalog.ts';
import { EngineThreadGenerator } from '../services/generation/engine-generator.ts';
import { loadEngines, resolveEngines, type Engine, type EngineEntry, type LoadEnginesOptions } from '../services/generation/engine-registry.ts';
import type { ImageGenerator } from '../services/generation/image-generator.ts';
import { ImageProducer } from '../services/generation/image-producer.ts';
import { ApplicationService } from '../services/identity/applications.ts';
import { CachedApplicationService } from '../services/identity/cached-applications.ts';
import { InviteService } from '../services/identity/invites.ts';
import { UserService } from '../services/identity/users.ts';
import { GenerateJobHandler } from '../services/jobs/generate-job-handler.ts';
import { SchedulingService } from '../services/jobs/scheduling-service.ts';
import { FixedWindowCounters } from '../services/limits/fixed-window-counters.ts';
import { memoryRequestLimiter, redisRequestLimiter, type RequestLimiter } from '../services/limits/request-limiter.ts';
import { Housekeeping } from '../services/ops/housekeeping.ts';
import { ServiceMetrics, type LiveWorkers } from '../services/ops/metrics.ts';
import { ReadinessService, type ReadinessCheck } from '../services/ops/readiness.ts';
import { ThreadService } from '../services/threads/thread-service.ts';
import { AccountService } from '../services/web/accounts.ts';
import { LoginThrottle, type LoginThrottleDeps } from '../services/web/login-throttle.ts';
import { SessionService } from '../services/web/sessions.ts';
import type { FileStorage } from '../storage/file-storage.ts';
import { LocalFileStorage } from '../storage/local-storage.ts';
import { openStore, type Store } from '../store/database.ts';
import { heartbeatFor, JobWorker, type JobWorkerOptions } from '../worker/job-worker.ts';
import { createLogger } from './logger.ts';

/** Parts a test (or a test-only entry script) replaces; production passes none. */
export interface RuntimeOverrides {
  /** Replaces the engine-thread generator. */
  generator?: ImageGenerator;
  /** Wraps the generator (the real one unless `generator` is given), e.g. to hold jobs in `running`. */
  wrapGenerator?: (generator: ImageGenerator) => ImageGenerator;
  storage?: FileStorage;
  /**
   * Replaces the registry (SDAPI_ENGINES or the default engines): entries as a registry file holds them, with
   * absolute model folders (relative ones resolve against the working directory).
   */
  engines?: EngineEntry[];
  notifier?: WorkNotifier;
  clock?: Clock;
  /** Replaces the login throttle's wait (tests record the slow-down instead of sleeping). */
  loginWait?: LoginThrottleDeps['wait'];
  /** Replaces the per-request rate limiter (tests give one a tiny quota). */
  requestLimiter?: RequestLimiter;
}

export interface RuntimeOptions {
  /** The process log (default: a pino logger at the configured level). */
  logger?: Logger;
  /**
   * This process runs generation workers (default true): each engine's device is planned now, so a missing CUDA
   * provider is one warning (or, with SDAPI_DEVICE_STRICT, a StartupError). An API-only process skips it.
   */
  runsModels?: boolean;
}

export interface Services {
  users: UserService;
  applications: CachedApplicationService;
  credits: CreditService;
  sessions: SessionService;
  loginThrottle: LoginThrottle;
  accounts: AccountService;
  engines: EngineCatalog;
  threads: ThreadService;
  entries: EntryService;
  /** Account priorities and caps, and fair-order queue positions. */
  scheduling: SchedulingService;
  producer: ImageProducer;
  fleet: FleetStatus;
  sweeper: QueueSweeper;
  invites: InviteService;
  housekeeping: Housekeeping;
  readiness: ReadinessService;
  metrics: ServiceMetrics;
  /** The per-request API rate limit; undefined when SDAPI_RATE_LIMIT=off. */
  requestLimiter: RequestLimiter | undefined;
}

export interface Runtime {
  config: Config;
  store: Store;
  queue: JobQueue;
  /** How idle workers learn of new jobs (Redis or in-process). */
  notifier: WorkNotifier;
  storage: FileStorage;
  generator: ImageGenerator;
  services: Services;
  logger: Logger;
  /** One handler per job kind, for the worker. */
  jobHandlers: JobHandlers;
  /** Releases the engine thread and the queue's connections, then closes the store. */
  close(): Promise<void>;
}

/**
 * Reads the engine registry and every model's manifest (no session), plans the devices, opens the store
 * (migrating it) and assembles everything on top of it.
 * @throws {StartupError} a bad registry or model folder, or (strict) a missing GPU provider: before the store opens
 */
export async function openRuntime(config: Config, overrides: RuntimeOverrides = {}, options: RuntimeOptions = {}): Promise<Runtime> {
  const logger = options.logger ?? createLogger(config);
  let engines = await runtimeEngines(config, overrides);
  if (options.runsModels ?? true) {
    const plan = planDevices(engines, { strict: config.deviceStrict });
    for (const warning of plan.warnings) logger.warn({ device: config.device }, warning);
    engines = plan.engines;
  }
  const store = await openStore(config.databaseUrl, { poolSize: config.databasePoolSize });
  let limiterRedis: RedisConnection | undefined;
  try {
    let requestLimiter = overrides.requestLimiter;
    if (!requestLimiter && config.rateLimit && config.queueUrl) {
      limiterRedis = await createLimiterRedis(config.queueUrl);
      requestLimiter = redisRequestLimiter(rateLimitPolicy(config.rateLimit), limiterRedis.client, config.queuePrefix);
    }
    const notifier = overrides.notifier ?? (await createNotifier(config));
    const runtime = assembleRuntime(config, store, { engines, logger, overrides: { ...overrides, requestLimiter, notifier } });
    const connection = limiterRedis;
    if (!connection) return runtime;
    return { ...runtime, close: () => runtime.close().finally(() => connection.close()) };
  } catch (err) {
    await limiterRedis?.close();
    await store.close();
    throw err;
  }
}

/** The registry's engines, resolved and checked against their models. @throws {StartupError} */
export function runtimeEngines(config: Pick<Config, 'enginesFile' | 'defaultModelDir' | 'device'>, overrides: Pick<RuntimeOverrides, 'engines'> = {}): Promise<Engine[]> {
  if (overrides.engines) return resolveEngines({ label: 'engines (test overrides)', baseDir: process.cwd(), entries: overrides.engines }, { device: config.device });
  return loadEngines(registryOptions(config));
}

/** Where the registry comes from: SDAPI_ENGINES, else the default engines on SDAPI_MODEL_DIR. */
export function registryOptions(config: Pick<Config, 'enginesFile' | 'defaultModelDir' | 'device'>): LoadEnginesOptions {
  return { file: config.enginesFile, defaultModelDir: config.defaultModelDir, demo: config.defaultModelDir === resolve(projectRoot, 'models/demo'), device: config.device };
}

export function assembleRuntime(config: Config, store: Store, parts: { engines: Engine[]; logger: Logger; overrides?: RuntimeOverrides }): Runtime {
  const { logger, overrides = {} } = parts;
  const clock = overrides.clock ?? systemClock;
  const notifier: WorkNotifier = overrides.notifier ?? new InProcessNotifier();
  const queue = new DatabaseJobQueue({ jobs: store.repos.jobs, definitions: JOB_DEFINITIONS, notifier, leaseMs: config.jobLeaseMs, clock });
  const storage = overrides.storage ?? new LocalFileStorage(resolve(config.dataDir, 'storage'));
  const baseGenerator =
    overrides.generator ??
    new EngineThreadGenerator({ modelMemoryBytes: config.modelMemoryBytes, strictDevice: config.deviceStrict, warn: (message) => logger.warn({ device: config.device }, message) });
  const generator = overrides.wrapGenerator ? overrides.wrapGenerator(baseGenerator) : baseGenerator;

  const users = new UserService(store, clock);
  const credits = new CreditService(store, clock);
  const sessions = new SessionService(store, undefined, clock);
  const loginThrottle = new LoginThrottle(store, undefined, { clock, wait: overrides.loginWait });
  const engines = new EngineCatalog(parts.engines);
  const entries = new EntryService({ store, queue, credits, engines, clock });
  const producer = new ImageProducer({ generator, engines, storage, publicUrl: config.publicUrl });
  const fleet = new FleetStatus(store, { clock });
  const invites = new InviteService(store, clock);
  const accounts = new AccountService({
    users,
    sessions,
    throttle: loginThrottle,
    credits,
    invites,
    counters: new FixedWindowCounters(store, clock),
    signup: {
      mode: config.signup,
      credits: config.signupCredits,
      limit: config.signupLimit && { count: config.signupLimit.count, windowMs: config.signupLimit.windowSeconds * 1000 },
    },
  });
  const readinessChecks: ReadinessCheck[] = [{ name: 'store', check: () => store.repos.ops.ping() }];
  const ping = notifier.ping?.bind(notifier);
  if (ping) readinessChecks.push({ name: 'redis', check: ping });
  const services: Services = {
    users,
    applications: new CachedApplicationService(store, { clock }),
    credits,
    sessions,
    loginThrottle,
    accounts,
    engines,
    threads: new ThreadService({ store, entries, storage, clock }),
    entries,
    scheduling: new SchedulingService(store),
    producer,
    fleet,
    sweeper: new QueueSweeper({ entries, fleet, timeoutMs: config.queueTimeoutMs, logger }),
    invites,
    housekeeping: new Housekeeping({ store, counterPolicies: accounts.counterPolicies, clock }),
    readiness: new ReadinessService(readinessChecks),
    metrics: new ServiceMetrics({ store, clock, engineIds: () => engines.ids(), liveWorkersByEngine: () => liveWorkersByEngine(fleet) }),
    requestLimiter: overrides.requestLimiter ?? (config.rateLimit && memoryRequestLimiter(rateLimitPolicy(config.rateLimit))),
  };
  const jobHandlers: JobHandlers = { generate: new GenerateJobHandler({ entries, producer, logger }) };
  let closing: Promise<void> | undefined;
  return {
    config,
    store,
    queue,
    notifier,
    storage,
    generator,
    services,
    logger,
    jobHandlers,
    close: () =>
      (closing ??= (async () => {
        try {
          await services.sweeper.stop();
          await generator.close();
        } finally {
          await queue.close().catch(() => undefined);
          await store.close();
        }
      })()),
  };
}

/** The one quota policy of the API rate limit (SDAPI_RATE_LIMIT). */
function rateLimitPolicy(rate: NonNullable<Config['rateLimit']>) {
  return { name: 'default', quota: rate.count, windowSeconds: rate.windowSeconds };
}

/**
 * Live generation workers per engine, for the metrics. Nothing records workers yet: the fleet work (issue #8) adds a
 * `workers` heartbeat table, and this becomes a read of it.
 */
async function liveWorkersByEngine(fleet: FleetStatus): Promise<readonly LiveWorkers[]> {
  const load = await fleet.engineLoad();
  return [...load].map(([engine, entry]) => ({ engine, count: entry.workers }));
}

interface RedisConnection {
  client: import('ioredis').Redis;
  close(): Promise<void>;
}

/**
 * The rate limiter's own Redis connection (ioredis loaded only then). No offline queue: while Redis is down a
 * command fails at once and the limiter's in-memory insurance answers, instead of requests waiting for Redis.
 */
async function createLimiterRedis(url: string): Promise<RedisConnection> {
  const { Redis } = await import('ioredis');
  const client = new Redis(url, { connectionName: 'sdapi-ratelimit', enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: (times) => Math.min(times * 200, 2000) });
  // Connection errors are reported by readiness and the start-up check (the notifier's connection to the same URL).
  client.on('error', () => undefined);
  return { client, close: () => client.quit().then(() => undefined, () => client.disconnect()) };
}

/** Redis wake-ups when SDAPI_QUEUE_URL names a Redis (ioredis is loaded only then), else in-process ones. */
export async function createNotifier(config: Pick<Config, 'queueUrl' | 'queuePrefix'>): Promise<WorkNotifier> {
  if (!config.queueUrl) return new InProcessNotifier();
  const { RedisNotifier } = await import('../queue/redis-notifier.ts');
  return new RedisNotifier({ url: config.queueUrl, prefix: config.queuePrefix });
}

/**
 * The generation worker over the runtime's queue and job handlers (heartbeats from the configured lease), routed to
 * the runtime's engines: it claims only their jobs.
 */
export function createWorker(runtime: Runtime, options: JobWorkerOptions = {}): JobWorker {
  return new JobWorker(
    { queue: runtime.queue, handlers: runtime.jobHandlers },
    { heartbeatMs: heartbeatFor(runtime.config.jobLeaseMs), engines: runtime.services.engines.ids(), ...options },
  );
}

/** The HTTP app over the runtime's services (each route gets its own few). */
export function buildHttpApp(runtime: Runtime, options: Omit<AppDeps, 'config' | 'services'> = {}): Promise<FastifyInstance> {
  const { services } = runtime;
  return buildApp({
    ...options,
    config: runtime.config,
    services: {
      threads: services.threads,
      entries: services.entries,
      engines: services.engines,
      fleet: services.fleet,
      credits: services.credits,
      scheduling: services.scheduling,
      users: services.users,
      applications: services.applications,
      accounts: services.accounts,
      sessions: services.sessions,
      storage: runtime.storage,
      readiness: services.readiness,
      metrics: services.metrics,
      requestLimiter: services.requestLimiter,
    },
  });
}

/** What the account commands of the CLI need: the store and the identity and credit services, nothing that runs jobs. */
export interface AccountRuntime {
  users: UserService;
  applications: ApplicationService;
  credits: CreditService;
  invites: InviteService;
  scheduling: SchedulingService;
  close(): Promise<void>;
}

export async function openAccountRuntime(config: Config): Promise<AccountRuntime> {
  const store = await openStore(config.databaseUrl, { poolSize: config.databasePoolSize });
  return {
    users: new UserService(store),
    applications: new ApplicationService(store),
    credits: new CreditService(store),
    invites: new InviteService(store),
    scheduling: new SchedulingService(store),
    close: () => store.close(),
  };
}
