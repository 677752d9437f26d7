/** Builds the real app through the composition root (inject only, no socket) on an in-memory SQLite store with a stub image generator. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { SESSION_COOKIE } from '../../src/api/session-auth.ts';
import { buildHttpApp, openRuntime, type Runtime, type RuntimeOverrides, type Services } from '../../src/composition/runtime.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import type { ImageGenerator } from '../../src/services/generation/image-generator.ts';
import type { Store } from '../../src/store/database.ts';

/** Rate and sign-up limits for tests that are not about them (the limiter still runs and sets its fields). */
export const TEST_LIMITS = { SDAPI_RATE_LIMIT: '1000000/10s', SDAPI_SIGNUP_LIMIT: 'off' };

export const stubGenerator: ImageGenerator = {
  preload: async () => 'cpu',
  deviceFor: () => 'cpu',
  generate: async () => {
    throw new Error('the stub generator does not generate');
  },
  close: async () => {},
};

export interface Harness {
  app: FastifyInstance;
  runtime: Runtime;
  services: Services;
  store: Store;
  close(): Promise<void>;
}

export async function buildHarness(env: Record<string, string> = {}, overrides: RuntimeOverrides = {}): Promise<Harness> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sdapi-web-'));
  // Limits high enough that the suites' own traffic never meets them; test/api/rate-limit.test.ts and test/web/abuse.test.ts set small ones.
  const config = loadConfig({ SDAPI_DATA_DIR: dataDir, SDAPI_DATABASE_URL: 'sqlite::memory:', SDAPI_WORKERS: '0', SDAPI_SIGNUP_CREDITS: '100', ...TEST_LIMITS, ...env });
  let runtime: Runtime | undefined;
  let app: FastifyInstance;
  try {
    runtime = await openRuntime(config, { generator: stubGenerator, ...overrides });
    app = await buildHttpApp(runtime);
    await app.ready();
  } catch (err) {
    await runtime?.close();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const ready = runtime;
  return {
    app,
    runtime: ready,
    services: ready.services,
    store: ready.store,
    close: async () => {
      await app.close();
      await ready.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A browser-like client: keeps the session cookie and sends the CSRF token on writes (unless told not to). */
export class Browser {
  cookie?: string;
  csrf?: string;
  constructor(
    private readonly app: FastifyInstance,
    readonly remoteAddress = '127.0.0.1',
  ) {}

  async request(method: InjectOptions['method'], url: string, body?: unknown, opts: { csrf?: string | null; headers?: Record<string, string> } = {}) {
    const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
    if (this.cookie) headers.cookie = `${SESSION_COOKIE}=${this.cookie}`;
    const csrf = opts.csrf === undefined ? this.csrf : opts.csrf;
    if (csrf) headers['x-csrf-token'] = csrf;
    const res = await this.app.inject({ method, url, headers, remoteAddress: this.remoteAddress, ...(body === undefined ? {} : { payload: body as object }) });
    const set = setCookie(res);
    if (set !== undefined) this.cookie = set || undefined;
    return res;
  }

  async register(email: string, password = 'password-123') {
    const res = await this.request('POST', '/api/v1/auth/register', { email, password });
    if (res.statusCode !== 201) throw new Error(`register ${email}: ${res.statusCode} ${res.body}`);
    this.csrf = res.json().data.csrf_token;
    return res.json().data.user as { id: string; email: string; credits: number };
  }

  async login(email: string, password = 'password-123') {
    const res = await this.request('POST', '/api/v1/auth/login', { email, password });
    if (res.statusCode === 200) this.csrf = res.json().data.csrf_token;
    return res;
  }
}

/** The session cookie value a response sets ('' when it clears it), or undefined. */
export function setCookie(res: LightMyRequestResponse): string | undefined {
  const header = res.headers['set-cookie'];
  const all = Array.isArray(header) ? header : header ? [header] : [];
  const mine = all.find((c) => c.startsWith(`${SESSION_COOKIE}=`));
  if (mine === undefined) return undefined;
  return decodeURIComponent(mine.slice(SESSION_COOKIE.length + 1).split(';')[0]);
}

export function rawSetCookie(res: LightMyRequestResponse): string {
  const header = res.headers['set-cookie'];
  return (Array.isArray(header) ? header : [header ?? '']).find((c) => c.startsWith(`${SESSION_COOKIE}=`)) ?? '';
}

export function bearer(token: string) {
  return { authorization: `Bearer ${token}` };
}

export async function bearerRequest(app: FastifyInstance, method: InjectOptions['method'], url: string, token: string, body?: unknown) {
  return app.inject({ method, url, headers: { accept: 'application/json', ...bearer(token) }, ...(body === undefined ? {} : { payload: body as object }) });
}
