/**
 * Every environment variable sdapi reads, in one TypeBox schema: its type, range, default and meaning.
 * loadConfig() converts the raw strings by these types, checks them all at once and builds the Config.
 * Add a variable here (and to the README's table); nothing else in src/ reads process.env.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';

/** cpu, cuda or cuda:N (src/domain/devices.ts spells the same for the layers that cannot read config). */
export const DEVICE_PATTERN = '^(cpu|cuda(:\\d{1,3})?)$';
export type Device = 'cpu' | 'cuda' | `cuda:${number}`;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const LOG_FORMATS = ['auto', 'pretty', 'json'] as const;
export const SIGNUP_MODES = ['open', 'closed', 'invite'] as const;
/** `off`, or COUNT/WINDOW: a count and a whole number of seconds, minutes, hours or days (RateLimit-Policy windows are whole seconds). */
const RATE_PATTERN = '^(off|[1-9][0-9]{0,8}/[1-9][0-9]{0,6}(s|m|h|d)?)$';

/** `secret`: the value is never repeated in an error message. */
const Text = (description: string, options: { pattern?: string; hint?: string; secret?: boolean } = {}) =>
  Type.Optional(Type.String({ minLength: 1, maxLength: 2000, description, ...options }));
const Int = (description: string, minimum: number, maximum: number, defaultValue: number) =>
  Type.Integer({ minimum, maximum, default: defaultValue, description });

export const EnvSchema = Type.Object({
  HOST: Type.String({ minLength: 1, maxLength: 255, default: '127.0.0.1', description: 'Address the HTTP server listens on' }),
  PORT: Int('Port the HTTP server listens on (0 = any free port)', 0, 65535, 8080),
  SDAPI_DATA_DIR: Text('SQLite file and image storage (default ./data)'),
  SDAPI_DATABASE_URL: Text('sqlite:<path> or postgres://… (default sqlite:<data dir>/sdapi.db)', {
    pattern: '^(sqlite:|postgres(ql)?://)',
    hint: 'must start with sqlite: or postgres://',
  }),
  DATABASE_URL: Text('Fallback for SDAPI_DATABASE_URL', { pattern: '^(sqlite:|postgres(ql)?://)', hint: 'must start with sqlite: or postgres://' }),
  SDAPI_DATABASE_POOL: Int('PostgreSQL connections per process', 1, 1000, 10),
  SDAPI_PUBLIC_URL: Text('Base of the absolute image URLs (default http://HOST:PORT)', { pattern: '^https?://[^\\s/]', hint: 'must be an http:// or https:// URL' }),
  SDAPI_MODEL_DIR: Text('Model folder behind the default engines, used when no engine registry is given (default models/demo)'),
  SDAPI_ENGINES: Text('Engine registry: a JSON file naming each engine and its model folder (default: the demo engines on SDAPI_MODEL_DIR)'),
  SDAPI_DEVICE: Type.String({ pattern: DEVICE_PATTERN, default: 'cpu', description: 'Where models run: cpu, cuda or cuda:N (an engine’s "device" overrides it)', hint: 'must be cpu, cuda or cuda:N' }),
  SDAPI_DEVICE_STRICT: Type.String({ pattern: '^(0|1|true|false)$', default: '0', description: '1: a missing GPU provider stops start-up instead of falling back to the CPU', hint: 'must be 0, 1, true or false' }),
  SDAPI_MODEL_MEMORY: Text('Bytes of loaded models a worker process keeps (K/M/G/T suffixes, powers of 1024); default 75 % of RAM / SDAPI_WORKERS_PER_HOST', {
    pattern: '^\\d+(\\.\\d+)?\\s*([KMGT](i?B)?|B)?$',
    hint: 'must be a number of bytes, optionally with K, M, G or T (e.g. 12G)',
  }),
  SDAPI_WORKERS_PER_HOST: Int('Worker processes the operator runs on this host (they share SDAPI_MODEL_MEMORY’s default)', 1, 1024, 1),
  SDAPI_QUEUE_TIMEOUT: Type.String({
    pattern: '^\\d+\\s*(ms|s|m|min|h|d)?$',
    default: '1h',
    description: 'A request for an engine no worker serves fails (and is refunded) after waiting this long: 90s, 30m, 1h (a plain number is seconds)',
    hint: 'must be a duration such as 90s, 30m or 1h',
  }),
  SDAPI_SYNC_TIMEOUT: Type.String({
    pattern: '^\\d+\\s*(ms|s|m|min|h|d)?$',
    default: '600s',
    description: 'How long the synchronous routes (POST /v1/images/generations, POST /sdapi/v1/txt2img) wait for the images before answering 504: 600s, 10m (a plain number is seconds)',
    hint: 'must be a duration such as 600s or 10m',
  }),
  SDAPI_CORS_ORIGINS: Text('Browser origins allowed to call /v1, /sdapi/v1 and /api/v1 with bearer tokens: comma-separated, e.g. https://app.example.com, or *; default none', {
    pattern: '^\\s*(\\*|https?://[^\\s/,]+(\\s*,\\s*https?://[^\\s/,]+)*)\\s*$',
    hint: 'must be * or comma-separated origins such as https://app.example.com (scheme://host[:port], no path)',
  }),
  SDAPI_WORKERS: Int('In-process generation workers of `sdapi serve` (0 = API only)', 0, 64, 1),
  SDAPI_SIGNUP: Type.Union(
    SIGNUP_MODES.map((mode) => Type.Literal(mode)),
    { default: 'open', description: 'Self-registration: open, closed, or invite (an invite code from `sdapi invites create` is needed)', hint: `must be one of ${SIGNUP_MODES.join(', ')}` },
  ),
  SDAPI_SIGNUP_CREDITS: Int('Credits of a self-registered account', 0, 1_000_000_000, 100),
  SDAPI_SIGNUP_LIMIT: Type.String({
    pattern: RATE_PATTERN,
    default: '5/1h',
    description: 'Registrations per client address and window, e.g. 5/1h; "off" for none',
    hint: 'must be "off" or COUNT/WINDOW such as 5/1h (window in s, m, h or d)',
  }),
  SDAPI_RATE_LIMIT: Type.String({
    pattern: RATE_PATTERN,
    default: '150/10s',
    description: 'API requests per bearer token, session or (unauthenticated) client address and window, e.g. 150/10s; "off" for none',
    hint: 'must be "off" or COUNT/WINDOW such as 150/10s (window in s, m, h or d)',
  }),
  SDAPI_METRICS_TOKEN: Text('Bearer token GET /metrics requires (default: none, /metrics is open)', { pattern: '^[\\x21-\\x7e]{16,}$', hint: 'must be at least 16 printable characters without spaces', secret: true }),
  SDAPI_BODY_LIMIT: Int('Largest request body in bytes', 1024, 100 * 1024 * 1024, 1024 * 1024),
  SDAPI_IMAGE_BODY_LIMIT: Int('Largest body of a request that may carry images (POST /threads/{guid}/entry, POST /quote, POST /v1/images/edits, POST /sdapi/v1/img2img), in bytes', 1024, 200 * 1024 * 1024, 30 * 1024 * 1024),
  SDAPI_QUEUE_URL: Type.String({
    pattern: '^(embedded|rediss?://.+)$',
    default: 'embedded',
    description: '"embedded" or redis://… to wake workers of other processes through Redis',
    hint: 'must be "embedded" or a redis:// (rediss://) URL',
  }),
  SDAPI_QUEUE_PREFIX: Type.String({ minLength: 1, maxLength: 100, pattern: '^[^\\s]+$', default: 'sdapi', description: 'Prefix of every Redis key' }),
  SDAPI_JOB_LEASE_MS: Int('Lease of a running job; a vanished worker’s job is re-queued after it', 1000, 3_600_000, 30_000),
  SDAPI_WEBHOOK_ALLOW_HOSTS: Text(
    'Comma-separated host names webhooks may reach although they resolve to a loopback, private or link-local address, and over plain http (e.g. an internal receiver); default: none',
    { pattern: '^[^\\s,]+(\\s*,\\s*[^\\s,]+)*$', hint: 'must be host names separated by commas, e.g. hooks.internal,127.0.0.1' },
  ),
  SDAPI_STORAGE_URL: Text('Where images are stored: a folder (path or file:///path) or s3://bucket/prefix (default <SDAPI_DATA_DIR>/storage)'),
  SDAPI_S3_ENDPOINT: Text('Endpoint of an S3-compatible server (MinIO, R2, …) for an s3:// SDAPI_STORAGE_URL (default: AWS S3)', {
    pattern: '^https?://[^\\s/@]+(/[^\\s@]*)?$',
    hint: 'must be an http:// or https:// URL without credentials',
  }),
  SDAPI_S3_REGION: Text('Signing region of the bucket: the AWS region, "auto" on R2 (default: AWS_REGION, else us-east-1 with SDAPI_S3_ENDPOINT)', {
    pattern: '^[a-zA-Z0-9-]{1,64}$',
    hint: 'must be a region name such as us-east-1 or auto',
  }),
  SDAPI_S3_FORCE_PATH_STYLE: Type.String({ pattern: '^(0|1|true|false)$', default: '0', description: '1: path-style bucket URLs (<endpoint>/<bucket>/<key>), as MinIO needs', hint: 'must be 0, 1, true or false' }),
  SDAPI_S3_PRESIGN: Type.String({
    pattern: '^(0|1|true|false|[1-9][0-9]{0,5})$',
    default: '0',
    description: '1: /storage answers 302 to a presigned URL valid 5 minutes; a number: that lifetime in seconds (1–604800)',
    hint: 'must be 0, 1, true, false or a lifetime in seconds from 1 to 604800',
  }),
  AWS_ACCESS_KEY_ID: Text('Access key of the S3 storage (with AWS_SECRET_ACCESS_KEY; default: the AWS SDK’s credential chain)', { pattern: '^[\\x21-\\x7e]{1,256}$', hint: 'must be printable characters without spaces', secret: true }),
  AWS_SECRET_ACCESS_KEY: Text('Secret key of the S3 storage (with AWS_ACCESS_KEY_ID)', { pattern: '^[\\x21-\\x7e]{1,1024}$', hint: 'must be printable characters without spaces', secret: true }),
  AWS_SESSION_TOKEN: Type.Optional(
    Type.String({ minLength: 1, maxLength: 8192, pattern: '^[\\x21-\\x7e]+$', description: 'Session token of temporary S3 credentials (with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)', hint: 'must be printable characters without spaces', secret: true }),
  ),
  AWS_PROFILE: Text('Profile of ~/.aws/credentials and ~/.aws/config the S3 credentials come from'),
  AWS_REGION: Text('Region of an AWS S3 bucket when SDAPI_S3_REGION is not set', { pattern: '^[a-zA-Z0-9-]{1,64}$', hint: 'must be a region name such as eu-central-1' }),
  AWS_REQUEST_CHECKSUM_CALCULATION: Type.Optional(
    Type.String({
      pattern: '^(WHEN_SUPPORTED|WHEN_REQUIRED|when_supported|when_required)$',
      description: 'WHEN_REQUIRED: uploads carry no CRC32 checksum headers (servers such as R2 that reject them; default WHEN_SUPPORTED)',
      hint: 'must be WHEN_SUPPORTED or WHEN_REQUIRED',
    }),
  ),
  AWS_RESPONSE_CHECKSUM_VALIDATION: Type.Optional(
    Type.String({
      pattern: '^(WHEN_SUPPORTED|WHEN_REQUIRED|when_supported|when_required)$',
      description: 'WHEN_REQUIRED: downloads do not ask for checksums (default WHEN_SUPPORTED)',
      hint: 'must be WHEN_SUPPORTED or WHEN_REQUIRED',
    }),
  ),
  SDAPI_TRUST_PROXY: Type.String({ maxLength: 2000, default: 'false', description: '"true", "false" or the proxies’ addresses (comma-separated)' }),
  LOG_LEVEL: Type.Union(
    LOG_LEVELS.map((level) => Type.Literal(level)),
    { default: 'info', description: 'pino log level', hint: `must be one of ${LOG_LEVELS.join(', ')}` },
  ),
  LOG_FORMAT: Type.Union(
    LOG_FORMATS.map((format) => Type.Literal(format)),
    { default: 'auto', description: 'auto: readable lines on a terminal (pino-pretty), JSON lines otherwise; pretty or json forces one', hint: `must be one of ${LOG_FORMATS.join(', ')}` },
  ),
  SDAPI_ENV_FILE: Text('File of KEY=value lines read before the environment (default .env in the working directory; "none" reads none)'),
});

export type Env = Static<typeof EnvSchema>;
export type EnvName = keyof Env;
/** Where variables come from: the process environment over an optional .env file (see environment()). */
export type EnvSource = Readonly<Record<string, string | undefined>>;

export function envVariableSchema(name: EnvName): TSchema {
  return EnvSchema.properties[name];
}
