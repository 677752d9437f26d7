/**
 * Builds the Fastify app (no listening socket: the composition root listens, tests use inject()).
 * Registration order: body parsers → OpenAPI → error handlers → /api/v1 routes → public files.
 * Every route plugin gets only the services it uses; add one with one `register(...)` line below.
 */
import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { readFileSync } from 'node:fs';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type RouteOptions } from 'fastify';
import type { FileStorage } from '../storage/file-storage.ts';
import type { CreditService } from '../services/credits/credit-service.ts';
import type { EntryService } from '../services/entries/entry-service.ts';
import type { FleetStatus } from '../services/fleet/fleet-status.ts';
import type { EngineCatalog } from '../services/generation/engine-catalog.ts';
import type { ApplicationService } from '../services/identity/applications.ts';
import type { UserService } from '../services/identity/users.ts';
import type { ThreadService } from '../services/threads/thread-service.ts';
import type { AccountService } from '../services/web/accounts.ts';
import type { SessionService } from '../services/web/sessions.ts';
import { apiRequestHook } from './auth.ts';
import { registerBodyParsers } from './body-parsers.ts';
import { frameworkErrors, installErrorHandlers, rejectNonFiniteOnRoute } from './errors.ts';
import { RequestLogController } from './request-log-controller.ts';
import { accountRoutes } from './routes/account.routes.ts';
import { authRoutes } from './routes/auth.routes.ts';
import { engineRoutes } from './routes/engines.routes.ts';
import { entryRoutes } from './routes/entries.routes.ts';
import { imageRoutes } from './routes/images.routes.ts';
import { storageRoutes } from './routes/storage.routes.ts';
import { threadRoutes } from './routes/threads.routes.ts';
import { webUiRoutes } from './routes/web-ui.routes.ts';
import { createSessionAuthenticator } from './session-auth.ts';

/** The services the HTTP surface uses; each route plugin receives its own few. */
export interface ApiServices {
  threads: ThreadService;
  entries: EntryService;
  engines: EngineCatalog;
  fleet: Pick<FleetStatus, 'engineLoad'>;
  credits: CreditService;
  users: UserService;
  applications: ApplicationService;
  accounts: AccountService;
  sessions: SessionService;
  storage: FileStorage;
}

export interface AppDeps {
  config: { bodyLimit: number; trustProxy: boolean | string; publicUrl: string };
  services: ApiServices;
  /** Accept browser sessions (cookie + X-CSRF-Token) besides bearer tokens (default true). */
  sessions?: boolean;
  /** The process logger (pino); none by default. */
  logger?: FastifyBaseLogger;
  /** Called for every route as it is registered (tests enumerate the routes with it). */
  onRoute?: (route: RouteOptions & { routePath: string; path: string; prefix: string }) => void;
}

export const API_PREFIX = '/api/v1';
export const MAX_PARAM_LENGTH = 100;

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config, services } = deps;
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    // One line per request (RequestLogController), and no per-request child logger: the id is logged explicitly.
    logController: new RequestLogController(),
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

  // Cookies are parsed on demand by the session authenticator, not for every request.
  await app.register(cookie, { hook: false });
  await registerBodyParsers(app, config.bodyLimit);
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'sdapi', description: 'Self-hosted, multi-tenant Stable Diffusion image generation (threads and entries).', version: '1.0.0' },
      servers: [{ url: config.publicUrl }],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer' },
          sessionCookie: { type: 'apiKey', in: 'cookie', name: 'sdapi_session', description: 'Web UI session (POST /auth/login); writes also need the X-CSRF-Token header.' },
        },
      },
      security: [{ bearerAuth: [] }, { sessionCookie: [] }],
    },
  });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    // BaseLayout: no "Explore" bar (an unlabelled URL box and logo); the theme fixes Swagger UI's low-contrast colours
    // and names its server picker (test/browser/pages.test.ts runs axe-core on /docs).
    uiConfig: { docExpansion: 'list', layout: 'BaseLayout' },
    theme: {
      title: 'sdapi API',
      css: [{ filename: 'sdapi.css', content: readFileSync(new URL('./docs/swagger-theme.css', import.meta.url), 'utf8') }],
      js: [{ filename: 'sdapi.js', content: readFileSync(new URL('./docs/swagger-theme.js', import.meta.url), 'utf8') }],
    },
  });
  installErrorHandlers(app);
  app.addHook('onRoute', rejectNonFiniteOnRoute);

  const sessionAuthenticator = deps.sessions === false ? undefined : createSessionAuthenticator(services.sessions);
  await app.register(
    async (api) => {
      api.addHook('preValidation', apiRequestHook(services.applications, sessionAuthenticator));
      api.get('/openapi.json', { schema: { hide: true }, config: { public: true } }, async () => app.swagger());
      await api.register(threadRoutes({ threads: services.threads }));
      await api.register(entryRoutes({ entries: services.entries }));
      await api.register(imageRoutes({ entries: services.entries }));
      await api.register(engineRoutes({ engines: services.engines, fleet: services.fleet }));
      await api.register(authRoutes({ accounts: services.accounts, sessions: services.sessions, users: services.users, publicUrl: config.publicUrl }));
      await api.register(accountRoutes({ applications: services.applications, credits: services.credits }));
    },
    { prefix: API_PREFIX },
  );
  await app.register(storageRoutes({ storage: services.storage }));
  await app.register(webUiRoutes({ publicUrl: config.publicUrl }));
  return app;
}
