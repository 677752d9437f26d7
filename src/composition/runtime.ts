/**
 * The composition root: the one place that builds config → store → queue → storage → services → worker (and the
 * HTTP app), for `sdapi serve`, `sdapi worker`, the account commands, tests and benches alike. Nothing else
 * constructs a service; tests swap parts through RuntimeOverrides instead of switches in production code.
 */
import { runStopSteps } from './stop-steps.ts';
import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApp, type AppDeps } from '../api/app.ts';
import { ConfigError } from '../config/config-error.ts';
import { projectRoot } from '../config/project-root.ts';
import type { Config } from '../config/load-config.ts';
import { systemClock, type Clock } from '../domain/clock.ts';
import { StartupError } from '../domain/errors.ts';
import { JOB_DEFINITIONS } from '../domain/jobs.ts';
import { DatabaseJobQueue } from '../queue/database-job-queue.ts';
import { InProcessNotifier } from '../queue/in-process-notifier.ts';
import type { JobHandlers } from '../queue/job-handler.ts';
import type { JobQueue } from '../queue/job-queue.ts';
import type { WorkNotifier } from '../queue/work-notifier.ts';
import { CreditService } from '../services/credits/credit-service.ts';
import { EntryService } from '../services/entries/entry-service.ts';
import { EntryEvents } from '../services/events/entry-events.ts';
import { CancelWatch } from '../services/jobs/cancel-watch.ts';
import { InProcessBroadcast, type Broadcast } from '../queue/broadcast.ts';
import { FileJanitor } from '../services/files/file-janitor.ts';
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
import { ProtocolService } from '../services/protocols/protocol-service.ts';
import { ThreadService } from '../services/threads/thread-service.ts';
import { IdempotencyService } from '../services/idempotency/idempotency.ts';
import { systemResolver, type Resolver, type WebhookTargetPolicy } from '../services/webhooks/address-guard.ts';
import { WebhookDispatcher } from '../services/webhooks/webhook-dispatcher.ts';
import { WebhookOutbox } from '../services/webhooks/webhook-outbox.ts';
import { WebhookSecretService } from '../services/webhooks/webhook-secrets.ts';
import { httpWebhookSender, type WebhookSend } from '../services/webhooks/webhook-sender.ts';
import { AccountService } from '../services/web/accounts.ts';
import { LoginThrottle, type LoginThrottleDeps } from '../services/web/login-throttle.ts';
import { SessionService } from '../services/web/sessions.ts';
import { createFileStorage } from '../storage/factory.ts';
import { StorageConfigError, type FileStorage } from '../storage/file-storage.ts';
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
  /** Progress and preview intervals of running requests (tests ask for a preview after every step). */
  entryIntervals?: { progressMs?: number; previewMs?: number };
  /** Replaces the broadcast (live events, cancel requests): Redis with SDAPI_QUEUE_URL, else in-process. */
  broadcast?: Broadcast;
  clock?: Clock;
  /** Replaces the login throttle's wait (tests record the slow-down instead of sleeping). */
  loginWait?: LoginThrottleDeps['wait'];
  /** Replaces the per-request rate limiter (tests give one a tiny quota). */
  requestLimiter?: RequestLimiter;
  /** Replaces the DNS resolution of webhook hosts (tests resolve names to chosen addresses, offline). */
  webhookResolver?: Resolver;
  /** Replaces the HTTP sender of webhook deliveries. */
  webhookSend?: WebhookSend;
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
  /** The OpenAI and AUTOMATIC1111 surfaces' requests, as entries of one thread per account and protocol. */
  protocols: ProtocolService;
  /** The lifecycle events of request entries (event stream, wait mode; subscribe here for webhooks). */
  events: EntryEvents;
  cancels: CancelWatch;
  /** Account priorities and caps, and fair-order queue positions. */
  scheduling: SchedulingService;
  producer: ImageProducer;
  fleet: FleetStatus;
  sweeper: QueueSweeper;
  invites: InviteService;
  housekeeping: Housekeeping;
  /** Deletes image files, and retries the deletions the storage did not confirm. */
  files: FileJanitor;
  readiness: ReadinessService;
  metrics: ServiceMetrics;
  webhookSecrets: WebhookSecretService;
  webhooks: WebhookOutbox;
  /** Sends the webhook outbox; started by `sdapi serve` and `sdapi worker` (tests call runOnce()). */
  webhookDispatcher: WebhookDispatcher;
  idempotency: IdempotencyService;
  /** The per-request API rate limit; undefined when SDAPI_RATE_LIMIT=off. */
  requestLimiter: RequestLimiter | undefined;
}

export interface Runtime {
  config: Config;
  store: Store;
  queue: JobQueue;
  /** How idle workers learn of new jobs (Redis or in-process). */
  notifier: WorkNotifier;
  /** Live entry events and cancel requests between processes (Redis or in-process). */
  broadcast: Broadcast;
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
  const storage = overrides.storage ?? createStorage(config);
  const ownStorage = overrides.storage ? undefined : storage;
  let store: Store;
  try {
    await checkStorage(storage, config);
    store = await openStore(config.databaseUrl, { poolSize: config.databasePoolSize });
  } catch (err) {
    await ownStorage?.close?.();
    throw err;
  }
  let limiterRedis: RedisConnection | undefined;
  try {
    let requestLimiter = overrides.requestLimiter;
    if (!requestLimiter && config.rateLimit && config.queueUrl) {
      limiterRedis = await createLimiterRedis(config.queueUrl);
      requestLimiter = redisRequestLimiter(rateLimitPolicy(config.rateLimit), limiterRedis.client, config.queuePrefix);
    }
    const notifier = overrides.notifier ?? (await createNotifier(config));
    const broadcast = overrides.broadcast ?? (await createBroadcast(config));
    const runtime = assembleRuntime(config, store, { engines, logger, overrides: { ...overrides, requestLimiter, notifier, broadcast, storage } });
    const connection = limiterRedis;
    if (!connection && !ownStorage) return runtime;
    let closing: Promise<void> | undefined;
    const close = () =>
      (closing ??= runStopSteps(logger, [
        ['the services', () => runtime.close()],
        ['the rate limiter\'s Redis connection', () => connection?.close()],
        ['the image storage', () => ownStorage?.close?.()],
      ]));
    return { ...runtime, close };
  } catch (err) {
    await limiterRedis?.close();
    await store.close();
    await ownStorage?.close?.();
    throw err;
  }
}

/** The storage SDAPI_STORAGE_URL names (the data directory's folder by default). @throws {ConfigError} a URL or S3 setting that cannot work */
export function createStorage(config: Pick<Config, 'storage'>): FileStorage {
  const { url, s3 } = config.storage;
  try {
    return createFileStorage({
      url,
      baseDir: process.cwd(),
      s3: {
        endpoint: s3.endpoint,
        region: s3.region,
        forcePathStyle: s3.forcePathStyle,
        presign: s3.presign,
        credentials: s3.credentials,
        profile: s3.profile,
        requestChecksumCalculation: s3.requestChecksumCalculation,
        responseChecksumValidation: s3.responseChecksumValidation,
      },
    });
  } catch (err) {
    if (err instanceof StorageConfigError) throw new ConfigError(`Invalid environment: ${err.message} (SDAPI_STORAGE_URL, SDAPI_S3_*)`);
    throw err;
  }
}

/** Where images go, fit for a log line: the folder or the s3:// URL, with the endpoint when there is one (never credentials). */
export function describeStorage(config: Pick<Config, 'storage'>): string {
  const { url, s3 } = config.storage;
  return /^s3:/i.test(url) && s3.endpoint ? `${url} at ${s3.endpoint}` : url;
}

/**
 * Start-up check: the storage takes a write and a delete (S3: the bucket exists, the keys and permissions work, the
 * endpoint answers), so a wrong setting stops the process with one line instead of failing every job later.
 * @throws {StartupError}
 */
export async function checkStorage(storage: FileStorage, config: Pick<Config, 'storage'>): Promise<void> {
  if (!storage.check) return;
  try {
    await storage.check();
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    const variable = config.storage.configured ? ' (SDAPI_STORAGE_URL)' : '';
    throw new StartupError([`The image storage ${describeStorage(config)}${variable} cannot be used: ${why}`]);
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
  const broadcast: Broadcast = overrides.broadcast ?? new InProcessBroadcast();
  const queue = new DatabaseJobQueue({ jobs: store.repos.jobs, definitions: JOB_DEFINITIONS, notifier, leaseMs: config.jobLeaseMs, clock });
  const storage = overrides.storage ?? createStorage(config);
  const baseGenerator =
    overrides.generator ??
    new EngineThreadGenerator({ modelMemoryBytes: config.modelMemoryBytes, strictDevice: config.deviceStrict, warn: (message) => logger.warn({ device: config.device }, message) });
  const generator = overrides.wrapGenerator ? overrides.wrapGenerator(baseGenerator) : baseGenerator;

  const users = new UserService(store, clock);
  const credits = new CreditService(store, clock);
  const sessions = new SessionService(store, undefined, clock);
  const loginThrottle = new LoginThrottle(store, undefined, { clock, wait: overrides.loginWait });
  const engines = new EngineCatalog(parts.engines);
  const webhookPolicy: WebhookTargetPolicy = { allowHosts: new Set(config.webhookAllowHosts), resolve: overrides.webhookResolver ?? systemResolver() };
  const webhookSecrets = new WebhookSecretService(store, clock);
  const webhooks = new WebhookOutbox({ store, secrets: webhookSecrets, policy: webhookPolicy, clock });
  const idempotency = new IdempotencyService(store, clock);
  const events = new EntryEvents({ store, broadcast, clock, logger });
  const cancels = new CancelWatch({ store, broadcast });
  const entries = new EntryService({
    store,
    queue,
    credits,
    engines,
    storage,
    publicUrl: config.publicUrl,
    events,
    cancels,
    clock,
    webhooks,
    idempotency,
    progressIntervalMs: overrides.entryIntervals?.progressMs,
    previewIntervalMs: overrides.entryIntervals?.previewMs,
  });
  const janitor = new FileJanitor({ store, storage, logger, clock });
  const producer = new ImageProducer({ generator, engines, storage, publicUrl: config.publicUrl, janitor });
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
  const metrics = new ServiceMetrics({ store, clock, engineIds: () => engines.ids(), liveWorkersByEngine: () => liveWorkersByEngine(fleet) });
  const readinessChecks: ReadinessCheck[] = [{ name: 'store', check: () => store.repos.ops.ping() }];
  const ping = notifier.ping?.bind(notifier);
  if (ping) readinessChecks.push({ name: 'redis', check: ping });
  const threads = new ThreadService({ store, entries, janitor, clock, idempotency });
  const services: Services = {
    users,
    applications: new CachedApplicationService(store, { clock }),
    credits,
    sessions,
    loginThrottle,
    accounts,
    engines,
    threads,
    entries,
    protocols: new ProtocolService({ store, entries, threads, storage, events, clock }),
    events,
    cancels,
    scheduling: new SchedulingService(store),
    producer,
    fleet,
    sweeper: new QueueSweeper({ entries, fleet, timeoutMs: config.queueTimeoutMs, logger }),
    invites,
    files: janitor,
    housekeeping: new Housekeeping({ store, counterPolicies: accounts.counterPolicies, clock }),
    readiness: new ReadinessService(readinessChecks),
    metrics,
    webhookSecrets,
    webhooks,
    webhookDispatcher: new WebhookDispatcher({
      store,
      secrets: webhookSecrets,
      send: overrides.webhookSend ?? httpWebhookSender({ policy: webhookPolicy }),
      clock,
      // Longer than an attempt may take (10 s): a delivery is taken over only from a sender that is gone.
      leaseMs: Math.max(config.jobLeaseMs, 15_000),
      onOutcome: (outcome) => metrics.recordWebhookDelivery(outcome),
      logger,
    }),
    idempotency,
    requestLimiter: overrides.requestLimiter ?? (config.rateLimit && memoryRequestLimiter(rateLimitPolicy(config.rateLimit))),
  };
  const jobHandlers: JobHandlers = { generate: new GenerateJobHandler({ entries, producer, cancels, logger }) };
  const unsubscribe = webhooks.onEnqueued(() => services.webhookDispatcher.wake());
  let closing: Promise<void> | undefined;
  return {
    config,
    store,
    queue,
    notifier,
    broadcast,
    storage,
    generator,
    services,
    logger,
    jobHandlers,
    close: () =>
      (closing ??= runStopSteps(logger, [
        [
          'the webhook dispatcher',
          () => {
            unsubscribe();
            return services.webhookDispatcher.stop();
          },
        ],
        ['the queue sweeper', () => services.sweeper.stop()],
        ['the engine threads', () => generator.close()],
        ['the queue', () => queue.close().catch(() => undefined)],
        ['the event broadcast', () => broadcast.close().catch(() => undefined)],
        ['the database', () => store.close()],
      ])),
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

/** Live events and cancel requests through Redis pub/sub when SDAPI_QUEUE_URL names a Redis, else in-process. */
export async function createBroadcast(config: Pick<Config, 'queueUrl' | 'queuePrefix'>): Promise<Broadcast> {
  if (!config.queueUrl) return new InProcessBroadcast();
  const { RedisBroadcast } = await import('../queue/redis-broadcast.ts');
  return new RedisBroadcast({ url: config.queueUrl, prefix: config.queuePrefix });
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
      protocols: services.protocols,
      events: services.events,
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
      webhooks: services.webhooks,
      webhookSecrets: services.webhookSecrets,
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
