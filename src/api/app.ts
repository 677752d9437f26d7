/**
 * Builds the Fastify app (no listening socket: server.ts listens, tests use inject()).
 * Registration order: body parsers → OpenAPI → error handlers → /api/v1 routes → public files.
 * Add a route module with one `api.register(...)` line below.
 */
import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance, type FastifyServerOptions, type RouteOptions } from 'fastify';
import type { Services } from '../services/index.ts';
import { authHook, type SessionAuthenticator } from './auth.ts';
import { decodeMultipart, registerBodyParsers } from './body-parsers.ts';
import { frameworkErrors, installErrorHandlers, rejectNonFinite } from './errors.ts';
import { accountRoutes } from './routes/account.ts';
import { authRoutes } from './routes/auth-routes.ts';
import { engineRoutes } from './routes/engines.ts';
import { entryRoutes } from './routes/entries.ts';
import { storageRoutes } from './routes/storage.ts';
import { threadRoutes } from './routes/threads.ts';
import { webUiRoutes } from './web-ui.ts';

export interface AppDeps {
  services: Services;
  /** Browser-session authentication (issue 4); bearer tokens always work. */
  sessionAuthenticator?: SessionAuthenticator;
  /** Fastify logger option; defaults to off (the server passes its pino options). */
  logger?: FastifyServerOptions['logger'];
  /** Called for every route as it is registered (tests enumerate the routes with it). */
  onRoute?: (route: RouteOptions & { routePath: string; path: string; prefix: string }) => void;
}

export const API_PREFIX = '/api/v1';
export const MAX_PARAM_LENGTH = 100;

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { services } = deps;
  const config = services.config;
  const app = Fastify({
    logger: deps.logger ?? false,
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

  await app.register(cookie);
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
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' } });
  installErrorHandlers(app);
  app.addHook('preHandler', rejectNonFinite);

  await app.register(
    async (api) => {
      api.addHook('preValidation', decodeMultipart);
      api.addHook('preValidation', authHook(services.applications, deps.sessionAuthenticator));
      api.get('/openapi.json', { schema: { hide: true }, config: { public: true } }, async () => app.swagger());
      await api.register(threadRoutes(services));
      await api.register(entryRoutes(services));
      await api.register(engineRoutes(services));
      await api.register(authRoutes(services));
      await api.register(accountRoutes(services));
    },
    { prefix: API_PREFIX },
  );
  await app.register(storageRoutes(services.storage));
  await app.register(webUiRoutes, { publicUrl: config.publicUrl });
  return app;
}
