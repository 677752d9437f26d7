/**
 * A complete in-process service for API tests, built by the composition root: temp data dir, SQLite store (or
 * PostgreSQL/Redis, see scale-out.ts), the real services with the real engine (tiny model) unless overridden,
 * the Fastify app (inject(), no port) and optionally the worker loop.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import pino, { type Logger } from 'pino';
import type { AppDeps } from '../../src/api/app.ts';
import { buildHttpApp, createWorker, openRuntime, type Runtime, type RuntimeOverrides, type Services } from '../../src/composition/runtime.ts';
import { loadConfig, projectRoot, type Config } from '../../src/config/load-config.ts';
import { hashPassword } from '../../src/services/identity/passwords.ts';
import type { Store } from '../../src/store/database.ts';
import type { JobWorker, JobWorkerOptions } from '../../src/worker/job-worker.ts';
import { testServiceEnv } from './scale-out.ts';

/** The model the tests generate with: SDAPI_TEST_MODEL_DIR, else the tiny SD1 fixture (64×64 native). */
export const TEST_MODEL_DIR = resolve(process.env.SDAPI_TEST_MODEL_DIR || join(projectRoot, 'models/tiny/sd1'));
export const PUBLIC_URL = 'http://sdapi.test';
export const TEST_PASSWORD = 'correct horse battery';
/** scrypt is slow on purpose: test accounts share one hash of TEST_PASSWORD, computed once per process. */
let testPasswordHash: Promise<string> | undefined;

export interface ApiContext {
  app: FastifyInstance;
  runtime: Runtime;
  services: Services;
  store: Store;
  config: Config;
  dataDir: string;
  worker?: JobWorker;
  /** Creates an account (password TEST_PASSWORD) with `credits` and returns a bearer token for it. */
  user(email: string, credits?: number): Promise<{ id: string; token: string }>;
  request(token: string | null, options: InjectOptions): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export async function createApiContext(
  options: {
    worker?: boolean | JobWorkerOptions;
    overrides?: RuntimeOverrides;
    env?: NodeJS.ProcessEnv;
    /** Accept browser sessions (cookie + X-CSRF-Token), as the server does (default true). */
    sessions?: boolean;
    onRoute?: AppDeps['onRoute'];
    /** Event stream limits (e.g. a short keep-alive). */
    eventStreams?: AppDeps['eventStreams'];
    /** The runtime's log (default: pino at LOG_LEVEL, info). */
    logger?: Logger;
  } = {},
): Promise<ApiContext> {
  const dataDir = await mkdtemp(join(tmpdir(), 'sdapi-test-'));
  // SQLite in dataDir by default; SDAPI_TEST_DIALECT=postgres / SDAPI_TEST_QUEUE=redis switch to a fresh database / key prefix.
  const scaleOut = await testServiceEnv('api');
  // Limits the suites' own traffic never meets (the limiter still runs); the rate-limit and abuse tests set small ones.
  const config = loadConfig({ SDAPI_DATA_DIR: dataDir, SDAPI_MODEL_DIR: TEST_MODEL_DIR, SDAPI_PUBLIC_URL: PUBLIC_URL, PORT: '0', SDAPI_RATE_LIMIT: '1000000/10s', SDAPI_SIGNUP_LIMIT: 'off', ...scaleOut.env, ...options.env });
  // The default engines on the test model, unless the test brings its own (overrides.engines or SDAPI_ENGINES).
  const runtime = await openRuntime(config, options.overrides, { logger: options.logger ?? pino({ level: 'silent' }) });
  const app = await buildHttpApp(runtime, { sessions: options.sessions, onRoute: options.onRoute, eventStreams: options.eventStreams });
  let worker: JobWorker | undefined;
  if (options.worker) {
    const extra = typeof options.worker === 'object' ? options.worker : {};
    worker = createWorker(runtime, { concurrency: 1, idleMs: 1000, ...extra });
    await worker.start();
  }
  const { services } = runtime;
  return {
    app,
    runtime,
    services,
    store: runtime.store,
    config,
    dataDir,
    worker,
    async user(email, credits = 100) {
      const user = { id: randomUUID(), email: email.toLowerCase() };
      await runtime.store.repos.users.insert({ ...user, password_hash: await (testPasswordHash ??= hashPassword(TEST_PASSWORD)), credits: 0, created_at: new Date().toISOString() });
      if (credits > 0) await services.credits.grant(user.id, credits, 'test');
      const application = await services.applications.create(user.id, 'tests');
      const token = await services.applications.createToken(user.id, application.id);
      return { id: user.id, token: token.token };
    },
    request(token, opts) {
      const headers = { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...(opts.headers ?? {}) };
      return app.inject({ ...opts, headers });
    },
    async close() {
      await worker?.stop();
      await app.close();
      await runtime.close();
      await scaleOut.cleanup();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls the thread's entries until the response entry for `requestGuid` exists. */
export async function waitForResponse(ctx: ApiContext, token: string, threadGuid: string, timeoutMs = 120_000): Promise<Record<string, any>[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await ctx.request(token, { method: 'GET', url: `/api/v1/threads/${threadGuid}/entries` });
    const entries = res.json().data as Record<string, any>[];
    if (entries.some((e) => e.type === 'response')) return entries;
    if (Date.now() > deadline) throw new Error(`no response entry within ${timeoutMs} ms: ${JSON.stringify(entries)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const TUTORIAL_FORM = {
  type: 'request',
  engine: 'stable-diffusion-xl-1024-v0-9',
  resolution: '1024x1024',
  'prompts[0][text]': 'Delorean hacking time',
  'prompts[0][weight]': '1',
  'prompts[1][text]': 'Clock',
  'prompts[1][weight]': '-1',
  images: '2',
  steps: '45',
  style: 'neon-punk',
};

export const TUTORIAL_JSON = {
  type: 'request' as const,
  engine: 'stable-diffusion-xl-1024-v0-9',
  resolution: '1024x1024',
  prompts: [
    { text: 'Delorean hacking time', weight: 1 },
    { text: 'Clock', weight: -1 },
  ],
  images: 2,
  steps: 45,
  style: 'neon-punk',
};

export function formBody(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString();
}

export function multipartBody(fields: Record<string, string>, boundary = '----sdapi-test-boundary'): { payload: string; contentType: string } {
  let payload = '';
  for (const [k, v] of Object.entries(fields)) payload += `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`;
  payload += `--${boundary}--\r\n`;
  return { payload, contentType: `multipart/form-data; boundary=${boundary}` };
}
