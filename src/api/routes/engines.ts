/** Engines and the caller's account balance. */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { Services } from '../../services/index.ts';
import { requireAuth } from '../auth.ts';
import { AccountSchema, data, EngineSchema, errorResponses } from '../schemas.ts';
import { engineView } from '../views.ts';

export function engineRoutes(services: Services): FastifyPluginAsync {
  return async (app) => {
    app.get(
      '/engines',
      {
        schema: {
          tags: ['engines'],
          summary: 'List engines with the model behind each, sizes, step range, samplers and styles',
          response: { 200: Type.Object({ data: Type.Array(EngineSchema) }), 401: errorResponses[401] },
        },
      },
      async (request) => {
        requireAuth(request);
        return { data: (await services.engines.list()).map(engineView) };
      },
    );

    app.get(
      '/account',
      {
        schema: { tags: ['account'], summary: 'The caller: email and credit balance', response: { 200: data(AccountSchema), 401: errorResponses[401] } },
      },
      async (request) => {
        const auth = requireAuth(request);
        return { data: { email: auth.email, credits: await services.credits.balance(auth.userId) } };
      },
    );
  };
}
