/** Thread entries: send a request (any of the three body encodings), price one, list requests and responses. */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { GenerationRequestBodySchema, type GenerationRequestBody } from '../../domain/generation-request.ts';
import type { EntryService } from '../../services/entries/entry-service.ts';
import { requireAuth } from '../auth.ts';
import { EntryListCache } from '../entry-list-cache.ts';
import { schemaErrorsOf } from '../errors.ts';
import { tutorialEntries, tutorialRequestBody, tutorialRequestEntry, validationExample } from '../examples.ts';
import { RETRY_AFTER_HEADER } from '../rate-limit.ts';
import { data, EntrySchema, ErrorBody, errorResponses, GuidParams, QuoteSchema } from '../schemas.ts';
import { entryView } from '../views.ts';

export interface EntryRouteDeps {
  entries: EntryService;
}

/** The entry body as documented: the tutorial's own request as its example. */
const RequestBody = { ...GenerationRequestBodySchema, examples: [tutorialRequestBody] };
const requestErrors = { 422: { ...errorResponses[422], examples: [validationExample] } };

export function entryRoutes({ entries }: EntryRouteDeps): FastifyPluginAsync {
  const lists = new EntryListCache(entries);
  return async (app) => {
    app.post<{ Body: GenerationRequestBody }>(
      '/quote',
      {
        attachValidation: true,
        schema: {
          tags: ['entries'],
          summary: 'Price a generation request without sending it',
          description:
            'Takes the body of POST /threads/{guid}/entry and answers what it would cost now (images × max(1, round(steps × width × height / 1024² / 9))). Checked in the same one pass as the entry route: a body with bad fields gets the same 422.',
          body: RequestBody,
          consumes: ['application/json', 'application/x-www-form-urlencoded', 'multipart/form-data'],
          response: { 200: data(QuoteSchema, { credits: 10 }), 401: errorResponses[401], ...requestErrors },
        },
      },
      async (request) => {
        requireAuth(request);
        const quote = await entries.quote({ body: request.body, schemaErrors: schemaErrorsOf(request) });
        return { data: { credits: quote.credits } };
      },
    );

    app.post<{ Params: Static<typeof GuidParams>; Body: GenerationRequestBody }>(
      '/threads/:guid/entry',
      {
        // The schema's findings go to the service with the body, which adds the engine's rules: one 422 for all.
        attachValidation: true,
        schema: {
          tags: ['entries'],
          summary: 'Send a generation request to a thread',
          description:
            'Costs images × max(1, round(steps × width × height / 1024² / 9)) credits, reserved now, charged when the response entry is written and refunded if generation fails. Poll GET /threads/{guid}/entries until the response entry appears.',
          params: GuidParams,
          body: RequestBody,
          // JSON first: Swagger UI shows the first one, and the JSON example reads best.
          consumes: ['application/json', 'application/x-www-form-urlencoded', 'multipart/form-data'],
          response: {
            201: data(EntrySchema, tutorialRequestEntry),
            401: errorResponses[401],
            402: { description: 'Not enough credits', ...ErrorBody, examples: [{ message: 'Insufficient credits: this request costs 10 and the balance is 4.', code: 'insufficient_credits' }] },
            404: errorResponses[404],
            ...requestErrors,
            429: {
              description:
                "Too Many Requests: past the rate limit, or the account already has its max_queued requests waiting (GET /account shows both; docs/scheduling.md). Nothing is reserved; retry after Retry-After seconds.",
              headers: RETRY_AFTER_HEADER,
              ...ErrorBody,
              examples: [{ message: 'Too many queued requests: this account may have 20 waiting and has 20. Retry when one has started.', code: 'rate_limited' }],
            },
          },
        },
      },
      async (request, reply) => {
        const auth = requireAuth(request);
        const entry = await entries.createRequest(auth.userId, { threadId: request.params.guid, body: request.body, schemaErrors: schemaErrorsOf(request) });
        return reply.status(201).send({ data: entryView(entry) });
      },
    );

    app.get<{ Params: Static<typeof GuidParams> }>(
      '/threads/:guid/entries',
      {
        schema: {
          tags: ['entries'],
          summary: 'List the request and response entries of a thread, in order',
          description: 'While a request waits for its response, the answer carries `Retry-After: 1`.',
          params: GuidParams,
          response: { 200: Type.Object({ data: Type.Array(EntrySchema) }, { examples: [{ data: tutorialEntries }] }), 401: errorResponses[401], 404: errorResponses[404] },
        },
      },
      async (request, reply) => {
        const auth = requireAuth(request);
        const list = await lists.get(auth.userId, request.params.guid);
        if (list.waiting) reply.header('retry-after', '1');
        // Already JSON, built by entryView (the shape EntrySchema documents): Fastify sends strings as they are.
        return reply.type('application/json; charset=utf-8').send(list.json);
      },
    );
  };
}
