/** Threads: create, list (newest first, paginated), get, rename, delete; delete one request entry. */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { ThreadService } from '../../services/threads/thread-service.ts';
import { requireAuth } from '../auth.ts';
import { pageMetaExample, tutorialThread } from '../examples.ts';
import { idempotencyErrors, IdempotencyHeaders, idempotencyKeyOf, REPLAYED_HEADER } from '../idempotency-header.ts';
import { CreateThreadBody, data, EntryParams, errorResponses, GuidParams, PageMeta, PageQuery, RenameThreadBody, ThreadSchema } from '../schemas.ts';
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
          headers: IdempotencyHeaders,
          body: CreateThreadBody,
          response: { 201: { ...data(ThreadSchema, tutorialThread), headers: REPLAYED_HEADER }, 401: errorResponses[401], ...idempotencyErrors, 422: errorResponses[422] },
        },
      },
      async (request, reply) => {
        const auth = requireAuth(request);
        const { thread, replayed } = await threads.open(auth.userId, request.body.ai_version_code, { idempotencyKey: idempotencyKeyOf(request) });
        if (replayed) reply.header('idempotent-replayed', 'true');
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
          response: {
            200: Type.Object({ data: Type.Array(ThreadSchema), meta: PageMeta }, { examples: [{ data: [tutorialThread], meta: { ...pageMetaExample, total: 1 } }] }),
            401: errorResponses[401],
          },
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
        schema: { tags: ['threads'], summary: 'Get a thread', params: GuidParams, response: { 200: data(ThreadSchema, tutorialThread), 401: errorResponses[401], 404: errorResponses[404] } },
      },
      async (request) => {
        const auth = requireAuth(request);
        return { data: threadView(await threads.get(auth.userId, request.params.guid)) };
      },
    );

    app.patch<{ Params: Static<typeof GuidParams>; Body: Static<typeof RenameThreadBody> }>(
      '/threads/:guid',
      {
        schema: {
          tags: ['threads'],
          summary: 'Rename a thread',
          description: 'A new thread is titled after the first prompt sent to it; this sets any title (1–100 characters, no control characters).',
          params: GuidParams,
          body: RenameThreadBody,
          response: {
            200: data(ThreadSchema, { ...tutorialThread, title: 'Delorean at night', updated_at: '2023-07-13T20:01:10.000000Z' }),
            401: errorResponses[401],
            404: errorResponses[404],
            422: errorResponses[422],
          },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        return { data: threadView(await threads.rename(auth.userId, request.params.guid, request.body.title)) };
      },
    );

    app.delete<{ Params: Static<typeof EntryParams> }>(
      '/threads/:guid/entries/:entry_guid',
      {
        schema: {
          tags: ['entries'],
          summary: 'Delete a request entry with its response entry and image files',
          description: 'A request still queued or running is cancelled and its reserved credits are refunded.',
          params: EntryParams,
          response: { 204: Type.Null({ description: 'Deleted' }), 401: errorResponses[401], 404: errorResponses[404] },
        },
      },
      async (request, reply) => {
        const auth = requireAuth(request);
        await threads.deleteEntry(auth.userId, request.params.guid, request.params.entry_guid);
        return reply.status(204).send();
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
