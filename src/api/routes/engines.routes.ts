/** The engines: the model behind each id, sizes, step and cfg ranges, samplers and styles, and the workers serving each. */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { FleetStatus } from '../../services/fleet/fleet-status.ts';
import type { EngineCatalog } from '../../services/generation/engine-catalog.ts';
import { requireAuth } from '../auth.ts';
import { EngineListCache } from '../engine-list-cache.ts';
import { engineExample } from '../examples.ts';
import { EngineSchema, errorResponses } from '../schemas.ts';

export interface EngineRouteDeps {
  engines: EngineCatalog;
  fleet: Pick<FleetStatus, 'engineLoad'>;
}

export function engineRoutes({ engines, fleet }: EngineRouteDeps): FastifyPluginAsync {
  const cache = new EngineListCache(engines, fleet);
  return async (app) => {
    app.get(
      '/engines',
      {
        schema: {
          tags: ['engines'],
          summary: 'List engines with the model behind each, sizes, step range, samplers, styles, and the live workers, queued requests and device of each',
          response: { 200: Type.Object({ data: Type.Array(EngineSchema) }, { examples: [{ data: [engineExample] }] }), 401: errorResponses[401] },
        },
      },
      async (request, reply) => {
        requireAuth(request);
        // Already JSON (built by the same views the schema describes): Fastify sends strings as they are.
        return reply.type('application/json; charset=utf-8').send(await cache.json());
      },
    );
  };
}
