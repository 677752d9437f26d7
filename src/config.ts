/** Runtime configuration from the environment, validated once at start-up. */
import { resolve } from 'node:path';
import { AppError } from './services/errors.ts';

export interface Config {
  host: string;
  port: number;
  /** Root for the SQLite file and local image storage. */
  dataDir: string;
  /** `sqlite:<path>` (default `<dataDir>/sdapi.db`) or `postgres://…`. */
  databaseUrl: string;
  /** Absolute base for image URLs; defaults to http://<host>:<port>. */
  publicUrl: string;
  /** Model folder behind the default engine ids. */
  defaultModelDir: string;
  /** In-process generation workers to start with the server (0 = API only). */
  workers: number;
  /** `redis://…` selects the Redis-woken queue (workers in other processes pick jobs up at once); undefined = embedded. */
  queueUrl: string | undefined;
  /** Prefix of every Redis key, so installations (or test runs) can share one Redis. */
  queuePrefix: string;
  /** How long a running job's lease lasts without a heartbeat; a job of a worker that vanished is re-queued after it. */
  jobLeaseMs: number;
  /** Credits a self-registered account starts with. */
  signupCredits: number;
  /** Largest accepted request body in bytes. */
  bodyLimit: number;
  logLevel: string;
  /**
   * Fastify's trustProxy: whether X-Forwarded-For/-Proto are believed (client address for login throttling,
   * https for Secure cookies). `true` or a comma-separated list of proxy addresses/CIDRs.
   */
  trustProxy: boolean | string;
}

const projectRoot = resolve(new URL('..', import.meta.url).pathname);

function intFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new AppError('validation_failed', `${name} must be an integer between ${min} and ${max}, got "${raw}"`);
  }
  return value;
}

function parseQueueUrl(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '' || raw === 'embedded') return undefined;
  if (!/^rediss?:\/\/./.test(raw)) {
    throw new AppError('validation_failed', `SDAPI_QUEUE_URL must be "embedded" or a redis:// (rediss://) URL, got "${raw}"`);
  }
  return raw;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const host = env.HOST || '127.0.0.1';
  const port = intFromEnv(env, 'PORT', 8080, 0, 65535);
  const dataDir = resolve(env.SDAPI_DATA_DIR || resolve(projectRoot, 'data'));
  const databaseUrl = env.SDAPI_DATABASE_URL || env.DATABASE_URL || `sqlite:${resolve(dataDir, 'sdapi.db')}`;
  const displayHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const publicUrl = (env.SDAPI_PUBLIC_URL || `http://${displayHost}:${port}`).replace(/\/+$/, '');
  const queueUrl = parseQueueUrl(env.SDAPI_QUEUE_URL);
  return {
    host,
    port,
    dataDir,
    databaseUrl,
    publicUrl,
    defaultModelDir: resolve(env.SDAPI_MODEL_DIR || resolve(projectRoot, 'models/demo')),
    workers: intFromEnv(env, 'SDAPI_WORKERS', 1, 0, 64),
    queueUrl,
    queuePrefix: env.SDAPI_QUEUE_PREFIX || 'sdapi',
    jobLeaseMs: intFromEnv(env, 'SDAPI_JOB_LEASE_MS', 30_000, 1000, 3_600_000),
    signupCredits: intFromEnv(env, 'SDAPI_SIGNUP_CREDITS', 100, 0, 1_000_000_000),
    bodyLimit: intFromEnv(env, 'SDAPI_BODY_LIMIT', 1024 * 1024, 1024, 100 * 1024 * 1024),
    logLevel: env.LOG_LEVEL || 'info',
    trustProxy: parseTrustProxy(env.SDAPI_TRUST_PROXY),
  };
}

export { projectRoot };

function parseTrustProxy(raw: string | undefined): boolean | string {
  if (raw === undefined || raw === '' || raw === 'false') return false;
  if (raw === 'true') return true;
  return raw;
}
