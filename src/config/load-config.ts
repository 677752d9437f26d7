/** Runtime configuration: the environment parsed once, by EnvSchema, into one typed Config. */
import { resolve } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import type { TSchema } from '@sinclair/typebox';
import { ConfigError } from './config-error.ts';
import { EnvSchema, type Env, type EnvName, type EnvSource } from './env-schema.ts';
import { projectRoot } from './project-root.ts';

export { projectRoot };

/** A quota over a fixed window (SDAPI_RATE_LIMIT, SDAPI_SIGNUP_LIMIT). */
export interface Rate {
  count: number;
  windowSeconds: number;
}

export interface Config {
  host: Env['HOST'];
  port: Env['PORT'];
  /** Root for the SQLite file and local image storage (absolute). */
  dataDir: string;
  /** `sqlite:<path>` or `postgres://…`. */
  databaseUrl: string;
  /** PostgreSQL pool size per process. */
  databasePoolSize: Env['SDAPI_DATABASE_POOL'];
  /** Absolute base for image URLs, without a trailing slash. */
  publicUrl: string;
  /** False when publicUrl was derived from HOST:PORT (workers warn: their image URLs may point at the wrong host). */
  publicUrlConfigured: boolean;
  /** Model folder behind the default engine ids (absolute). */
  defaultModelDir: string;
  /** In-process generation workers started with the server (0 = API only). */
  workers: Env['SDAPI_WORKERS'];
  /** `redis://…` selects Redis wake-ups; undefined = in-process wake-ups. */
  queueUrl: string | undefined;
  queuePrefix: Env['SDAPI_QUEUE_PREFIX'];
  jobLeaseMs: Env['SDAPI_JOB_LEASE_MS'];
  signup: Env['SDAPI_SIGNUP'];
  signupCredits: Env['SDAPI_SIGNUP_CREDITS'];
  /** Registrations per client address and window; undefined = unlimited. */
  signupLimit: Rate | undefined;
  /** API requests per token, session or client address and window; undefined = no rate limit. */
  rateLimit: Rate | undefined;
  /** Bearer token that GET /metrics requires; undefined = /metrics is open. */
  metricsToken: string | undefined;
  bodyLimit: Env['SDAPI_BODY_LIMIT'];
  logLevel: Env['LOG_LEVEL'];
  /** Fastify's trustProxy: `true`, or the proxies' addresses/CIDRs as one comma-separated string; false = trust nobody. */
  trustProxy: boolean | string;
}

/**
 * Parses every variable EnvSchema declares from `env` (process.env by default). Empty values count as unset.
 * @throws {ConfigError} naming every invalid variable at once.
 */
export function loadConfig(env: EnvSource = process.env): Config {
  const parsed = parseEnv(env);
  const dataDir = resolve(parsed.SDAPI_DATA_DIR ?? resolve(projectRoot, 'data'));
  const displayHost = parsed.HOST === '0.0.0.0' || parsed.HOST === '::' ? '127.0.0.1' : parsed.HOST;
  return {
    host: parsed.HOST,
    port: parsed.PORT,
    dataDir,
    databaseUrl: parsed.SDAPI_DATABASE_URL ?? parsed.DATABASE_URL ?? `sqlite:${resolve(dataDir, 'sdapi.db')}`,
    databasePoolSize: parsed.SDAPI_DATABASE_POOL,
    publicUrl: (parsed.SDAPI_PUBLIC_URL ?? `http://${displayHost}:${parsed.PORT}`).replace(/\/+$/, ''),
    publicUrlConfigured: parsed.SDAPI_PUBLIC_URL !== undefined,
    defaultModelDir: resolve(parsed.SDAPI_MODEL_DIR ?? resolve(projectRoot, 'models/demo')),
    workers: parsed.SDAPI_WORKERS,
    queueUrl: parsed.SDAPI_QUEUE_URL === 'embedded' ? undefined : parsed.SDAPI_QUEUE_URL,
    queuePrefix: parsed.SDAPI_QUEUE_PREFIX,
    jobLeaseMs: parsed.SDAPI_JOB_LEASE_MS,
    signup: parsed.SDAPI_SIGNUP,
    signupCredits: parsed.SDAPI_SIGNUP_CREDITS,
    signupLimit: parseRate(parsed.SDAPI_SIGNUP_LIMIT),
    rateLimit: parseRate(parsed.SDAPI_RATE_LIMIT),
    metricsToken: parsed.SDAPI_METRICS_TOKEN,
    bodyLimit: parsed.SDAPI_BODY_LIMIT,
    logLevel: parsed.LOG_LEVEL,
    trustProxy: parsed.SDAPI_TRUST_PROXY === 'true' ? true : parsed.SDAPI_TRUST_PROXY === 'false' ? false : parsed.SDAPI_TRUST_PROXY,
  };
}

const WINDOW_UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** `off` → undefined; `150/10s` → 150 per 10 seconds (a window without a unit is in seconds). The schema checked the shape. */
export function parseRate(text: string): Rate | undefined {
  if (text === 'off') return undefined;
  const m = /^(\d+)\/(\d+)([smhd]?)$/.exec(text);
  if (!m) throw new ConfigError(`Invalid rate "${text}"`);
  return { count: Number(m[1]), windowSeconds: Number(m[2]) * WINDOW_UNIT_SECONDS[m[3] || 's'] };
}

/** The declared variables, converted by their schema type, defaults applied and checked; unknown variables are ignored. */
export function parseEnv(env: EnvSource): Env {
  const values: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, schema] of Object.entries(EnvSchema.properties) as [EnvName, TSchema][]) {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') continue;
    values[name] = schema.type === 'integer' && /^[+-]?\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw;
  }
  const withDefaults = Value.Default(EnvSchema, values);
  for (const error of Value.Errors(EnvSchema, withDefaults)) {
    const name = error.path.replace(/^\//, '');
    if (!name || problems.some((p) => p.startsWith(`${name} `))) continue;
    problems.push(describeProblem(name, error.schema, env[name]));
  }
  if (problems.length > 0 || !Value.Check(EnvSchema, withDefaults)) throw new ConfigError(`Invalid environment: ${problems.join('; ')}`, problems);
  return withDefaults;
}

function describeProblem(name: string, schema: TSchema, raw: string | undefined): string {
  const got = `got "${String(raw).slice(0, 100)}"`;
  if (schema.type === 'integer') return `${name} must be an integer between ${schema.minimum} and ${schema.maximum}, ${got}`;
  if (typeof schema.hint === 'string') return `${name} ${schema.hint}, ${got}`;
  if (typeof schema.maxLength === 'number' && raw !== undefined && raw.length > schema.maxLength) return `${name} may not be longer than ${schema.maxLength} characters`;
  return `${name} is invalid, ${got}`;
}
