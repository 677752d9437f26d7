/**
 * Every environment variable sdapi reads, in one TypeBox schema: its type, range, default and meaning.
 * loadConfig() converts the raw strings by these types, checks them all at once and builds the Config.
 * Add a variable here (and to the README's table); nothing else in src/ reads process.env.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const SIGNUP_MODES = ['open', 'closed', 'invite'] as const;
/** `off`, or COUNT/WINDOW: a count and a whole number of seconds, minutes, hours or days (RateLimit-Policy windows are whole seconds). */
const RATE_PATTERN = '^(off|[1-9][0-9]{0,8}/[1-9][0-9]{0,6}(s|m|h|d)?)$';

const Text = (description: string, options: { pattern?: string; hint?: string } = {}) =>
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
  SDAPI_MODEL_DIR: Text('Model folder behind the engine ids (default models/demo)'),
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
  SDAPI_METRICS_TOKEN: Text('Bearer token GET /metrics requires (default: none, /metrics is open)', { pattern: '^[\\x21-\\x7e]{16,}$', hint: 'must be at least 16 printable characters without spaces' }),
  SDAPI_BODY_LIMIT: Int('Largest request body in bytes', 1024, 100 * 1024 * 1024, 1024 * 1024),
  SDAPI_QUEUE_URL: Type.String({
    pattern: '^(embedded|rediss?://.+)$',
    default: 'embedded',
    description: '"embedded" or redis://… to wake workers of other processes through Redis',
    hint: 'must be "embedded" or a redis:// (rediss://) URL',
  }),
  SDAPI_QUEUE_PREFIX: Type.String({ minLength: 1, maxLength: 100, pattern: '^[^\\s]+$', default: 'sdapi', description: 'Prefix of every Redis key' }),
  SDAPI_JOB_LEASE_MS: Int('Lease of a running job; a vanished worker’s job is re-queued after it', 1000, 3_600_000, 30_000),
  SDAPI_TRUST_PROXY: Type.String({ maxLength: 2000, default: 'false', description: '"true", "false" or the proxies’ addresses (comma-separated)' }),
  LOG_LEVEL: Type.Union(
    LOG_LEVELS.map((level) => Type.Literal(level)),
    { default: 'info', description: 'pino log level', hint: `must be one of ${LOG_LEVELS.join(', ')}` },
  ),
});

export type Env = Static<typeof EnvSchema>;
export type EnvName = keyof Env;
/** Where variables come from: process.env today, a .env file merged in later. */
export type EnvSource = Readonly<Record<string, string | undefined>>;

export function envVariableSchema(name: EnvName): TSchema {
  return EnvSchema.properties[name];
}
