/**
 * Builds the Fastify app (no listening socket: the composition root listens, tests use inject()).
 * Registration order: security headers (every response) → body parsers → OpenAPI → error
 * handlers → /api/v1 routes (auth + rate limit + no-store in one onRequest hook) → operations → public files.
 * Every route plugin gets only the services it uses; add one with one `register(...)` line below.
 */
import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { readFileSync } from 'node:fs';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type RouteOptions, type RouteShorthandOptions } from 'fastify';
import type { FileStorage } from '../storage/file-storage.ts';
import type { CreditService } from '../services/credits/credit-service.ts';
import type { SchedulingService } from '../services/jobs/scheduling-service.ts';
import type { EntryService } from '../services/entries/entry-service.ts';
import type { ProtocolService } from '../services/protocols/protocol-service.ts';
import type { EntryEvents } from '../services/events/entry-events.ts';
import type { EventStreamOptions } from './event-stream.ts';
import type { FleetStatus } from '../services/fleet/fleet-status.ts';
import type { EngineCatalog } from '../services/generation/engine-catalog.ts';
import type { RequestLimiter } from '../services/limits/request-limiter.ts';
import type { ServiceMetrics } from '../services/ops/metrics.ts';
import type { ReadinessService } from '../services/ops/readiness.ts';
import type { ApplicationService } from '../services/identity/applications.ts';
import type { UserService } from '../services/identity/users.ts';
import type { ThreadService } from '../services/threads/thread-service.ts';
import type { AccountService } from '../services/web/accounts.ts';
import type { WebhookOutbox } from '../services/webhooks/webhook-outbox.ts';
import type { WebhookSecretService } from '../services/webhooks/webhook-secrets.ts';
import type { SessionService } from '../services/web/sessions.ts';
import { apiRequestHook, decodeMultipartBody } from './auth.ts';
import { a1111Routes, A1111_PREFIX } from './compat/a1111.routes.ts';
import { openAiRoutes, OPENAI_PREFIX } from './compat/openai.routes.ts';
import { corsHook } from './cors.ts';
import { registerBodyParsers } from './body-parsers.ts';
import { frameworkErrors, installErrorHandlers, notFound, rejectNonFiniteOnRoute } from './errors.ts';
import { RATE_LIMIT_HEADERS, RETRY_AFTER_HEADER, type RateLimitErrorBody } from './rate-limit.ts';
import { RequestLogController } from './request-log-controller.ts';
import { accountRoutes } from './routes/account.routes.ts';
import { authRoutes } from './routes/auth.routes.ts';
import { engineRoutes } from './routes/engines.routes.ts';
import { entryRoutes } from './routes/entries.routes.ts';
import { imageRoutes } from './routes/images.routes.ts';
import { opsRoutes } from './routes/ops.routes.ts';
import { storageRoutes } from './routes/storage.routes.ts';
import { threadRoutes } from './routes/threads.routes.ts';
import { webhookRoutes } from './routes/webhooks.routes.ts';
import { webUiRoutes } from './routes/web-ui.routes.ts';
import { ErrorBody } from './schemas.ts';
import { docsContentSecurityPolicy, pageHeadersUnder, securityHeaders } from './security-headers.ts';
import { createSessionAuthenticator } from './session-auth.ts';

/** The services the HTTP surface uses; each route plugin receives its own few. */
export interface ApiServices {
  threads: ThreadService;
  entries: EntryService;
  /** The OpenAI (/v1) and AUTOMATIC1111 (/sdapi/v1) surfaces. */
  protocols: ProtocolService;
  events: EntryEvents;
  engines: EngineCatalog;
  fleet: Pick<FleetStatus, 'engineLoad'>;
  credits: CreditService;
  scheduling: SchedulingService;
  users: UserService;
  applications: ApplicationService;
  accounts: AccountService;
  sessions: SessionService;
  storage: FileStorage;
  readiness: ReadinessService;
  metrics: ServiceMetrics;
  /** The per-request rate limit of /api/v1 (SDAPI_RATE_LIMIT); none = unlimited. */
  requestLimiter?: RequestLimiter;
  webhooks: WebhookOutbox;
  webhookSecrets: WebhookSecretService;
}

export interface AppDeps {
  config: {
    bodyLimit: number;
    imageBodyLimit: number;
    trustProxy: boolean | string;
    publicUrl: string;
    metricsToken?: string;
    /** How long the synchronous compatibility routes wait for images (SDAPI_SYNC_TIMEOUT). */
    syncTimeoutMs: number;
    /** SDAPI_CORS_ORIGINS: origins allowed on /v1, /sdapi/v1 and /api/v1 (`*`: any); empty = none. */
    corsOrigins: readonly string[];
  };
  services: ApiServices;
  /** The 429 body of /api/v1 (default `{"message": "Too Many Requests"}`). */
  rateLimitBody?: RateLimitErrorBody;
  /** Accept browser sessions (cookie + X-CSRF-Token) besides bearer tokens (default true). */
  sessions?: boolean;
  /** The process logger (pino); none by default. */
  logger?: FastifyBaseLogger;
  /** Event stream limits (default: keep-alive every 15 s, 20 streams per token). */
  eventStreams?: EventStreamOptions;
  /** Called for every route as it is registered (tests enumerate the routes with it). */
  onRoute?: (route: RouteOptions & { routePath: string; path: string; prefix: string }) => void;
}

export const API_PREFIX = '/api/v1';
export const MAX_PARAM_LENGTH = 100;

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config, services } = deps;
  const metrics = services.metrics;
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    // One line per request (RequestLogController), and no per-request child logger: the id is logged explicitly. The
    // controller also records each request's duration by route pattern (never the raw URL: bounded label values).
    logController: new RequestLogController((request, reply) =>
      metrics.observeHttp(request.method, request.is404 ? 'unmatched' : (request.routeOptions.url ?? 'unmatched'), reply.statusCode, reply.elapsedTime / 1000),
    ),
    childLoggerFactory: (logger) => logger,
    bodyLimit: config.bodyLimit,
    trustProxy: config.trustProxy,
    return503OnClosing: true,
    // Path parameters are ids (UUIDs) and file names: a longer one is a 414, never a lookup.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors,
    ajv: { customOptions: { allErrors: true, coerceTypes: 'array', useDefaults: true, removeAdditional: true } },
  });
  app.decorateRequest('auth', null);
  if (deps.onRoute) app.addHook('onRoute', deps.onRoute);
  app.addHook('onRequest', securityHeaders({ publicUrl: config.publicUrl }));
  if (config.corsOrigins.length > 0) app.addHook('onRequest', corsHook(config.corsOrigins));

  // Cookies are parsed on demand by the session authenticator, not for every request.
  await app.register(cookie, { hook: false });
  await registerBodyParsers(app, config.bodyLimit, config.imageBodyLimit);
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'sdapi',
        description:
          'Self-hosted, multi-tenant Stable Diffusion image generation. Three surfaces on the same accounts, tokens, credits and queue: the thread/entry API under /api/v1, the OpenAI Images API under /v1 and the AUTOMATIC1111 API under /sdapi/v1.',
        version: '1.0.0',
      },
      servers: [{ url: config.publicUrl }],
      tags: [
        { name: 'threads', description: 'The thread/entry API (/api/v1): threads' },
        { name: 'entries', description: 'The thread/entry API (/api/v1): generation requests and their responses' },
        { name: 'images', description: "The thread/entry API (/api/v1): the account's images" },
        { name: 'engines', description: 'The thread/entry API (/api/v1): engines' },
        { name: 'auth', description: 'Browser accounts and sessions (/api/v1/auth)' },
        { name: 'account', description: 'Balance, ledger, applications and tokens (/api/v1)' },
        { name: 'OpenAI Images API', description: 'OpenAI-compatible image generation under /v1 (the official SDKs with baseURL), bearer token' },
        { name: 'AUTOMATIC1111 API', description: "AUTOMATIC1111-compatible routes under /sdapi/v1; HTTP Basic (any user, the token as password) or bearer token" },
        { name: 'operations', description: 'Health, readiness and metrics' },
      ],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer' },
          basicAuth: { type: 'http', scheme: 'basic', description: 'AUTOMATIC1111 API only: any user name, an sdapi token as the password (as --api-auth clients send).' },
          sessionCookie: { type: 'apiKey', in: 'cookie', name: 'sdapi_session', description: 'Web UI session (POST /auth/login); writes also need the X-CSRF-Token header.' },
          metricsToken: { type: 'http', scheme: 'bearer', description: 'GET /metrics only: SDAPI_METRICS_TOKEN, when the operator set one.' },
        },
      },
      security: [{ bearerAuth: [] }, { sessionCookie: [] }],
    },
  });
  // Swagger UI runs under its own CSP (swagger-ui sets it on every /docs response) with the page headers. BaseLayout:
  // no "Explore" bar (an unlabelled URL box and a logo whose inline <style> the CSP refuses); the theme fixes Swagger
  // UI's low-contrast colours and names its server picker (test/browser/pages.test.ts runs axe-core on /docs).
  app.addHook('onRoute', pageHeadersUnder('/docs'));
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    uiConfig: { docExpansion: 'list', layout: 'BaseLayout' },
    staticCSP: docsContentSecurityPolicy(config.publicUrl),
    theme: {
      title: 'sdapi API',
      css: [{ filename: 'sdapi.css', content: readFileSync(new URL('./docs/swagger-theme.css', import.meta.url), 'utf8') }],
      js: [{ filename: 'sdapi.js', content: readFileSync(new URL('./docs/swagger-theme.js', import.meta.url), 'utf8') }],
    },
  });
  installErrorHandlers(app);
  app.addHook('onRoute', rejectNonFiniteOnRoute);

  const sessionAuthenticator = deps.sessions === false ? undefined : createSessionAuthenticator(services.sessions, { publicUrl: config.publicUrl });
  const rateLimit = services.requestLimiter && { limiter: services.requestLimiter, errorBody: deps.rateLimitBody };
  await app.register(
    async (api) => {
      api.addHook('onRequest', apiRequestHook({ applications: services.applications, sessionAuthenticator, rateLimit }));
      api.addHook('onRoute', withApiRouteExtras);
      // Unknown /api/v1 paths go through the hook above too: they carry the RateLimit fields and count against the limit.
      api.setNotFoundHandler(notFound);
      api.get('/openapi.json', { schema: { hide: true }, config: { public: true } }, async () => app.swagger());
      await api.register(threadRoutes({ threads: services.threads }));
      await api.register(entryRoutes({ entries: services.entries, events: services.events, streams: deps.eventStreams, imageBodyLimit: config.imageBodyLimit }));
      await api.register(imageRoutes({ entries: services.entries }));
      await api.register(engineRoutes({ engines: services.engines, fleet: services.fleet }));
      await api.register(authRoutes({ accounts: services.accounts, sessions: services.sessions, users: services.users, publicUrl: config.publicUrl }));
      await api.register(accountRoutes({ applications: services.applications, credits: services.credits, scheduling: services.scheduling }));
      await api.register(webhookRoutes({ webhooks: services.webhooks, webhookSecrets: services.webhookSecrets }));
    },
    { prefix: API_PREFIX },
  );
  const surface = { protocols: services.protocols, engines: services.engines, applications: services.applications, rateLimit, syncTimeoutMs: config.syncTimeoutMs, imageBodyLimit: config.imageBodyLimit };
  await app.register(openAiRoutes(surface), { prefix: OPENAI_PREFIX });
  await app.register(a1111Routes(surface), { prefix: A1111_PREFIX });
  await app.register(opsRoutes({ readiness: services.readiness, metrics: services.metrics, metricsToken: config.metricsToken }));
  await app.register(storageRoutes({ storage: services.storage }));
  await app.register(webUiRoutes({ publicUrl: config.publicUrl }));
  return app;
}

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const TOO_MANY = { description: 'Too Many Requests: past the rate limit (see the RateLimit fields); retry after Retry-After seconds', headers: { ...RATE_LIMIT_HEADERS, ...RETRY_AFTER_HEADER }, ...ErrorBody };

/**
 * onRoute of the /api/v1 scope: write routes decode multipart bodies before validation, and every documented answer
 * carries the RateLimit fields, with the 429 the rate limit may give.
 */
function withApiRouteExtras(route: RouteOptions): void {
  const methods = Array.isArray(route.method) ? route.method : [route.method];
  if (methods.some((m) => WRITE_METHODS.has(m))) {
    const existing = route.preValidation === undefined ? [] : Array.isArray(route.preValidation) ? route.preValidation : [route.preValidation];
    route.preValidation = [decodeMultipartBody, ...existing];
  }
  const schema = route.schema;
  if (!schema || schema.hide || !schema.response) return;
  const responses: Record<string, unknown> = {};
  for (const [status, response] of Object.entries(schema.response as Record<string, object>)) {
    const documented = response as { headers?: object };
    responses[status] = { ...response, headers: { ...RATE_LIMIT_HEADERS, ...documented.headers } };
  }
  responses['429'] ??= TOO_MANY;
  route.schema = { ...schema, response: responses } satisfies RouteShorthandOptions['schema'];
}
