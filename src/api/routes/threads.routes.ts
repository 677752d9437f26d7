/** Threads: create, list (newest first, paginated), get, delete. */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { ThreadService } from '../../services/threads/thread-service.ts';
import { requireAuth } from '../auth.ts';
import { CreateThreadBody, data, errorResponses, GuidParams, PageMeta, PageQuery, ThreadSchema } from '../schemas.ts';
import { pageMeta, threadView } from '../views.ts';

export interface ThreadRouteDeps {
  threads: ThreadService;
}

export function threadRoutes({ threads }: ThreadRouteDeps): FastifyPluginAsync {
  return async (app) => {
    app.post<{ Body: Static<typeof CreateThreadBody> }>(
      '/threads',
      {
        schema: {
          tags: ['threads'],
          summary: 'Start a new thread',
          body: CreateThreadBody,
          response: { 201: data(ThreadSchema), 401: errorResponses[401], 422: errorResponses[422] },
        },
      },
      async (request, reply) => {
        const auth = requireAuth(request);
        const thread = await threads.create(auth.userId, request.body.ai_version_code);
        return reply.status(201).send({ data: threadView(thread) });
      },
    );

    app.get<{ Querystring: Static<typeof PageQuery> }>(
      '/threads',
      {
        schema: {
          tags: ['threads'],
          summary: "List the caller's threads, newest first",
          querystring: PageQuery,
          response: { 200: Type.Object({ data: Type.Array(ThreadSchema), meta: PageMeta }), 401: errorResponses[401] },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const page = await threads.list(auth.userId, { page: request.query.page ?? 1, perPage: request.query.per_page ?? 20 });
        return { data: page.items.map(threadView), meta: pageMeta(page) };
      },
    );

    app.get<{ Params: Static<typeof GuidParams> }>(
      '/threads/:guid',
      {
        schema: { tags: ['threads'], summary: 'Get a thread', params: GuidParams, response: { 200: data(ThreadSchema), 401: errorResponses[401], 404: errorResponses[404] } },
      },
      async (request) => {
        const auth = requireAuth(request);
        return { data: threadView(await threads.get(auth.userId, request.params.guid)) };
      },
    );

    app.delete<{ Params: Static<typeof GuidParams> }>(
      '/threads/:guid',
      {
        schema: {
          tags: ['threads'],
          summary: 'Delete a thread with its entries and image files (unfinished requests are cancelled and refunded)',
          params: GuidParams,
          response: { 204: Type.Null({ description: 'Deleted' }), 401: errorResponses[401], 404: errorResponses[404] },
        },
      },
      async (request, reply) => {
        const auth = requireAuth(request);
        await threads.delete(auth.userId, request.params.guid);
        return reply.status(204).send();
      },
    );
  };
}
