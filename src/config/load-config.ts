/**
 * Runtime configuration: the environment (process variables over an optional .env file) parsed once, by EnvSchema,
 * into one typed Config. The server, the workers and every CLI command read it through here.
 */
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { resolve } from 'node:path';
import * as nodeUtil from 'node:util';
import { Value } from '@sinclair/typebox/value';
import type { TSchema } from '@sinclair/typebox';
import { ConfigError } from './config-error.ts';
import { EnvSchema, type Device, type Env, type EnvName, type EnvSource } from './env-schema.ts';
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
  /** Model folder behind the default engines, used when there is no registry file (absolute). */
  defaultModelDir: string;
  /** The engine registry file (absolute), or undefined for the default engines on defaultModelDir. */
  enginesFile: string | undefined;
  /** Where models run unless an engine names its own device. */
  device: Device;
  /** A GPU that cannot be used stops start-up instead of falling back to the CPU. */
  deviceStrict: boolean;
  /** Budget of loaded models per worker process (bytes); least recently used models are unloaded beyond it. */
  modelMemoryBytes: number;
  workersPerHost: Env['SDAPI_WORKERS_PER_HOST'];
  /** A pending request whose engine no worker served for this long fails and is refunded. */
  queueTimeoutMs: number;
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
  /** auto (pretty on a terminal), pretty or json. */
  logFormat: Env['LOG_FORMAT'];
  /** Fastify's trustProxy: `true`, or the proxies' addresses/CIDRs as one comma-separated string; false = trust nobody. */
  trustProxy: boolean | string;
  /** Hosts (lower case, IPv6 without brackets) webhooks may reach despite the address checks, and over http. */
  webhookAllowHosts: string[];
  /** Where generated images are stored. */
  storage: StorageSettings;
}

export type ChecksumSetting = 'WHEN_SUPPORTED' | 'WHEN_REQUIRED';

/** Static S3 keys. Serialised (JSON, util.inspect: what loggers use) with the secret parts masked. */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** The S3 settings (SDAPI_S3_*, AWS_*); used only when the storage URL is s3://. */
export interface S3Settings {
  endpoint?: string;
  region?: string;
  forcePathStyle: boolean;
  /** false, true (the default lifetime) or a lifetime in seconds. */
  presign: boolean | number;
  /** Absent: the AWS SDK's default provider chain (profile, SSO, instance or task roles, web identity). */
  credentials?: S3Credentials;
  profile?: string;
  requestChecksumCalculation?: ChecksumSetting;
  responseChecksumValidation?: ChecksumSetting;
}

export interface StorageSettings {
  /** SDAPI_STORAGE_URL, or the absolute `<dataDir>/storage` folder. Checked when the storage is created. */
  url: string;
  /** True when SDAPI_STORAGE_URL was set (false: the data directory's folder). */
  configured: boolean;
  s3: S3Settings;
}

/** The variables to configure from, and the .env file they were merged with (when one was read). */
export interface Environment {
  env: EnvSource;
  file?: string;
}

/**
 * The process environment over the KEY=value lines of a .env file: `SDAPI_ENV_FILE` (a path; "none" reads no file),
 * else `.env` in the working directory when there is one. A variable already set in the environment wins over the
 * file. Nothing is written to process.env.
 * @throws {ConfigError} when SDAPI_ENV_FILE names a file that cannot be read, or a .env exists but this Node cannot parse it.
 */
export function readEnvironment(options: { env?: EnvSource; cwd?: string } = {}): Environment {
  const env = options.env ?? process.env;
  const setting = env.SDAPI_ENV_FILE?.trim();
  if (setting === 'none') return { env };
  const file = resolve(options.cwd ?? process.cwd(), setting || '.env');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (!setting && (err as NodeJS.ErrnoException).code === 'ENOENT') return { env };
    throw new ConfigError(`Invalid environment: SDAPI_ENV_FILE cannot be read: ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  // util.parseEnv: Node 20.12+ (the dotenv format of `node --env-file`).
  const parseEnv: unknown = Reflect.get(nodeUtil, 'parseEnv');
  if (typeof parseEnv !== 'function') throw new ConfigError(`${file} needs Node 20.12 or newer to be read; export its variables instead`);
  const fromFile = parseEnv(text) as Record<string, string>;
  const merged: Record<string, string | undefined> = { ...fromFile };
  for (const [name, value] of Object.entries(env)) if (value !== undefined) merged[name] = value;
  return { env: merged, file };
}

/**
 * Parses every variable EnvSchema declares from `env` (by default the process environment over .env, see
 * readEnvironment()). Empty values count as unset.
 * @throws {ConfigError} naming every invalid variable at once.
 */
export function loadConfig(env: EnvSource = readEnvironment().env): Config {
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
    enginesFile: parsed.SDAPI_ENGINES === undefined ? undefined : resolve(parsed.SDAPI_ENGINES),
    device: parsed.SDAPI_DEVICE as Device, // checked by the schema's pattern
    deviceStrict: parsed.SDAPI_DEVICE_STRICT === '1' || parsed.SDAPI_DEVICE_STRICT === 'true',
    modelMemoryBytes: parsed.SDAPI_MODEL_MEMORY === undefined ? defaultModelMemory(parsed.SDAPI_WORKERS_PER_HOST) : parseBytes(parsed.SDAPI_MODEL_MEMORY),
    workersPerHost: parsed.SDAPI_WORKERS_PER_HOST,
    queueTimeoutMs: parseDuration(parsed.SDAPI_QUEUE_TIMEOUT),
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
    logFormat: parsed.LOG_FORMAT,
    trustProxy: parsed.SDAPI_TRUST_PROXY === 'true' ? true : parsed.SDAPI_TRUST_PROXY === 'false' ? false : parsed.SDAPI_TRUST_PROXY,
    webhookAllowHosts: (parsed.SDAPI_WEBHOOK_ALLOW_HOSTS ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1'))
      .filter((h) => h.length > 0),
    storage: storageSettings(parsed, dataDir),
  };
}

const isOn = (value: string): boolean => value === '1' || value === 'true';

/** SDAPI_STORAGE_URL and the S3 variables; the URL itself is checked by the storage factory when the storage is created. */
function storageSettings(parsed: Env, dataDir: string): StorageSettings {
  const url = parsed.SDAPI_STORAGE_URL?.trim();
  const s3Url = url !== undefined && /^s3:/i.test(url);
  const problems: string[] = [];
  // S3 settings beside a folder are a mistake (a forgotten SDAPI_STORAGE_URL), not something to ignore.
  const s3Only: string[] = [];
  if (parsed.SDAPI_S3_ENDPOINT !== undefined) s3Only.push('SDAPI_S3_ENDPOINT');
  if (parsed.SDAPI_S3_REGION !== undefined) s3Only.push('SDAPI_S3_REGION');
  if (isOn(parsed.SDAPI_S3_FORCE_PATH_STYLE)) s3Only.push('SDAPI_S3_FORCE_PATH_STYLE');
  if (parsed.SDAPI_S3_PRESIGN !== '0' && parsed.SDAPI_S3_PRESIGN !== 'false') s3Only.push('SDAPI_S3_PRESIGN');
  if (!s3Url && s3Only.length > 0) problems.push(`${s3Only.join(', ')} ${s3Only.length === 1 ? 'applies' : 'apply'} only to an s3:// SDAPI_STORAGE_URL, which is not set`);
  const presign = /^[0-9]+$/.test(parsed.SDAPI_S3_PRESIGN) && !['0', '1'].includes(parsed.SDAPI_S3_PRESIGN) ? Number(parsed.SDAPI_S3_PRESIGN) : isOn(parsed.SDAPI_S3_PRESIGN);
  if (typeof presign === 'number' && presign > 604_800) problems.push(`SDAPI_S3_PRESIGN must be 0, 1, true, false or a lifetime in seconds from 1 to 604800, got "${presign}"`);
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_SESSION_TOKEN: sessionToken } = parsed;
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) problems.push('AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together');
  else if (sessionToken !== undefined && accessKeyId === undefined) problems.push('AWS_SESSION_TOKEN needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
  if (problems.length > 0) throw new ConfigError(`Invalid environment: ${problems.join('; ')}`, problems);
  const s3: S3Settings = { forcePathStyle: isOn(parsed.SDAPI_S3_FORCE_PATH_STYLE), presign };
  if (parsed.SDAPI_S3_ENDPOINT !== undefined) s3.endpoint = parsed.SDAPI_S3_ENDPOINT;
  const region = parsed.SDAPI_S3_REGION ?? parsed.AWS_REGION;
  if (region !== undefined) s3.region = region;
  if (accessKeyId !== undefined && secretAccessKey !== undefined) s3.credentials = maskedCredentials({ accessKeyId, secretAccessKey, ...(sessionToken === undefined ? {} : { sessionToken }) });
  if (parsed.AWS_PROFILE !== undefined) s3.profile = parsed.AWS_PROFILE;
  if (parsed.AWS_REQUEST_CHECKSUM_CALCULATION !== undefined) s3.requestChecksumCalculation = parsed.AWS_REQUEST_CHECKSUM_CALCULATION.toUpperCase() as ChecksumSetting;
  if (parsed.AWS_RESPONSE_CHECKSUM_VALIDATION !== undefined) s3.responseChecksumValidation = parsed.AWS_RESPONSE_CHECKSUM_VALIDATION.toUpperCase() as ChecksumSetting;
  // A plain folder path is made absolute here, like SDAPI_DATA_DIR; URLs (s3:, file:, anything with a scheme) are checked by the storage factory.
  const folder = url === undefined ? resolve(dataDir, 'storage') : /^[a-z][a-z0-9+.-]*:/i.test(url) ? url : resolve(url);
  return { url: folder, configured: url !== undefined, s3 };
}

/** The same keys, but a log line or an inspected Config shows only the access key id. */
function maskedCredentials(credentials: S3Credentials): S3Credentials {
  const masked = { accessKeyId: credentials.accessKeyId, secretAccessKey: '***', ...(credentials.sessionToken === undefined ? {} : { sessionToken: '***' }) };
  return Object.defineProperties(
    { ...credentials },
    {
      toJSON: { value: () => masked, enumerable: false },
      [nodeUtil.inspect.custom]: { value: () => masked, enumerable: false },
    },
  );
}

/** 75 % of the RAM, shared by the worker processes the operator runs on this host. */
export function defaultModelMemory(workersPerHost: number, total = totalmem()): number {
  return Math.floor((total * 0.75) / workersPerHost);
}

const BYTE_UNITS: Record<string, number> = { '': 1, B: 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** `12G`, `512MiB`, `1.5GB`, `1000000` → bytes (the units are powers of 1024). */
export function parseBytes(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)/.exec(text.trim());
  if (!m) throw new ConfigError(`not a size: ${text}`);
  return Math.floor(Number(m[1]) * BYTE_UNITS[m[2]]);
}

const DURATION_UNITS: Record<string, number> = { ms: 1, '': 1000, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `30m`, `1h`, `3600` (seconds) → milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)\s*(ms|s|min|m|h|d)?$/.exec(text.trim());
  if (!m) throw new ConfigError(`not a duration: ${text}`);
  return Number(m[1]) * DURATION_UNITS[m[2] ?? ''];
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
  // A secret is never repeated: error lines end up in terminals, logs and CI output.
  // A URL's user and password are masked too (postgres://user:pw@…, http://key:secret@…).
  const shown = String(raw).replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/i, '$1***@');
  const got = schema.secret === true ? 'got a value that is not shown' : `got "${shown.slice(0, 100)}"`;
  if (schema.type === 'integer') return `${name} must be an integer between ${schema.minimum} and ${schema.maximum}, ${got}`;
  if (typeof schema.hint === 'string') return `${name} ${schema.hint}, ${got}`;
  if (typeof schema.maxLength === 'number' && raw !== undefined && raw.length > schema.maxLength) return `${name} may not be longer than ${schema.maxLength} characters`;
  return `${name} is invalid, ${got}`;
}
