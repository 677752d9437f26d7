/**
 * Thread entries: send a request (any of the three body encodings; `Prefer: wait=N` holds the answer until the
 * response is there), price one, list requests and responses (or only those after `since`), follow a thread's
 * events (text/event-stream), cancel a request.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { GenerationRequestBodySchema, type GenerationRequestBody } from '../../domain/generation-request.ts';
import { AppError } from '../../domain/errors.ts';
import type { EntryService } from '../../services/entries/entry-service.ts';
import type { EntryEvents } from '../../services/events/entry-events.ts';
import { requireAuth } from '../auth.ts';
import { EventStreams, type EventStreamOptions } from '../event-stream.ts';
import { EntryListCache } from '../entry-list-cache.ts';
import { schemaErrorsOf } from '../errors.ts';
import { idempotencyErrors, IdempotencyHeaders, idempotencyKeyOf, REPLAYED_HEADER } from '../idempotency-header.ts';
import { tutorialEntries, tutorialRequestBody, tutorialRequestEntry, validationExample } from '../examples.ts';
import { RETRY_AFTER_HEADER } from '../rate-limit.ts';
import { data, EntryParams, EntrySchema, ErrorBody, errorResponses, GuidParams, QuoteSchema } from '../schemas.ts';
import { entryView } from '../views.ts';

export interface EntryRouteDeps {
  entries: EntryService;
  events: EntryEvents;
  /** Body limit of the two routes that take input images (SDAPI_IMAGE_BODY_LIMIT). */
  imageBodyLimit: number;
  /** Event stream limits (tests shorten the keep-alive). */
  streams?: EventStreamOptions;
}

/** The request routes' multipart files: the image fields. */
const IMAGE_ROUTE = { fileFields: ['init_image', 'mask_image'] } as const;

/** The longest `Prefer: wait=N` honoured, in seconds. */
export const MAX_WAIT_SECONDS = 60;

const WaitHeaders = Type.Object({
  prefer: Type.Optional(
    Type.String({ maxLength: 200, description: 'wait=N (N ≤ 60): hold the answer up to N seconds until the response entry is written (RFC 7240)', examples: ['wait=30'] }),
  ),
});
const SubmitHeaders = Type.Composite([IdempotencyHeaders, WaitHeaders]);
const EventHeaders = Type.Object({
  'last-event-id': Type.Optional(Type.String({ maxLength: 20, pattern: '^[0-9]+$', description: 'Resume: every event of the thread after this id is sent first, then live ones' })),
});
const SinceQuery = Type.Object({
  since: Type.Optional(Type.String({ maxLength: 100, description: 'An entry guid of the thread: only the entries written after it are listed' })),
});

/** `wait=N` of a Prefer header, capped at MAX_WAIT_SECONDS; undefined without one (or with a malformed one). */
export function preferredWait(prefer: string | undefined): number | undefined {
  const m = prefer ? /(?:^|[,;\s])wait\s*=\s*"?(\d{1,6})"?(?:$|[,;\s])/i.exec(prefer) : null;
  return m ? Math.min(Number(m[1]), MAX_WAIT_SECONDS) : undefined;
}

/** An Accept header that allows text/event-stream: absent, any type, any text type, or naming it. */
function acceptsEventStream(accept: string | undefined): boolean {
  if (!accept) return true;
  return accept.split(',').some((part) => /^\s*(\*\/\*|text\/\*|text\/event-stream)\s*(;|$)/i.test(part));
}

const EVENT_STREAM_DESCRIPTION = [
  'A text/event-stream of every request entry of the thread. Each event has an `id:` (ordered within the thread, opaque), an `event:` name and `data:` JSON with `entry_guid`:',
  '`queued` {queue_position}, `started`, `progress` {step, steps, image, images, eta_seconds}, `preview` {image, step, data_url: a JPEG of at most 256 px, at most 2 per second},',
  '`completed` {response: the response entry as GET …/entries shows it}, `failed` {error, response}, `cancelled` {response}.',
  'A comment line (`: keep-alive`) comes every 15 s. Reconnect with `Last-Event-ID` to get every later event first (events are kept at least 10 minutes;',
  'progress and previews: the latest per entry), then live ones. At most 20 open streams per token (429 above).',
].join(' ');

/** The entry body as documented: the tutorial's own request as its example. */
const RequestBody = { ...GenerationRequestBodySchema, examples: [tutorialRequestBody] };
const requestErrors = { 422: { ...errorResponses[422], examples: [validationExample] } };

export function entryRoutes({ entries, events, streams: streamOptions, imageBodyLimit }: EntryRouteDeps): FastifyPluginAsync {
  const lists = new EntryListCache(entries);
  const streams = new EventStreams(events, streamOptions);
  return async (app) => {
    // preClose: before the server waits for in-flight requests, which an open stream never finishes by itself.
    app.addHook('preClose', async () => streams.closeAll());

    app.post<{ Body: GenerationRequestBody }>(
      '/quote',
      {
        attachValidation: true,
        bodyLimit: imageBodyLimit,
        config: IMAGE_ROUTE,
        schema: {
          tags: ['entries'],
          summary: 'Price a generation request without sending it',
          description:
            'Takes the body of POST /threads/{guid}/entry and answers what it would cost now (images × max(1, round(steps × width × height / 1024² / 9)), with an init_image the steps it runs: int(steps × (1 − image_strength))). Checked in the same one pass as the entry route: a body with bad fields gets the same 422.',
          body: RequestBody,
          consumes: ['application/json', 'application/x-www-form-urlencoded', 'multipart/form-data'],
          response: { 200: data(QuoteSchema, { credits: 10 }), 401: errorResponses[401], ...requestErrors },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const quote = await entries.quote(auth.userId, { body: request.body, schemaErrors: schemaErrorsOf(request) }, { applicationId: auth.applicationId });
        return { data: { credits: quote.credits } };
      },
    );

    app.post<{ Params: Static<typeof GuidParams>; Body: GenerationRequestBody; Headers: Static<typeof SubmitHeaders> }>(
      '/threads/:guid/entry',
      {
        // The schema's findings go to the service with the body, which adds the engine's rules: one 422 for all.
        attachValidation: true,
        bodyLimit: imageBodyLimit,
        config: IMAGE_ROUTE,
        schema: {
          tags: ['entries'],
          summary: 'Send a generation request to a thread',
          description:
            'Costs images × max(1, round(steps × width × height / 1024² / 9)) credits (with an init_image, steps is the number of denoising steps it runs: int(steps × (1 − image_strength))), reserved now, charged when the response entry is written and refunded if generation fails. Follow GET /threads/{guid}/events, poll GET /threads/{guid}/entries until the response entry appears, or pass `webhook` (bearer tokens only) to be called back: signed POSTs (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` keyed with the application\'s secret from GET /webhook-secret) carrying `{"type": "entry.started" | "entry.completed" | "entry.failed" | "entry.cancelled", "timestamp", "data": <the request entry, with "response">}`, retried with backoff until a 2xx (12 attempts over about 29 h). Send an Idempotency-Key to retry safely. With `Prefer: wait=N` (N ≤ 60) the answer waits up to N seconds: when the response entry is written in time it is 201 `{"data": request entry, "response": response entry}` with `Preference-Applied: wait=N`, otherwise the usual answer without Preference-Applied. Image-to-image and inpainting take init_image, image_strength (or init_image_mode=STEP_SCHEDULE with step_schedule_start), mask_image, mask_source and mask_blur in a thread opened with ai_version_code stablediffusion_img2img or stablediffusion_inpaint; images may be multipart files, data: URLs, base64, or the url or guid of an image of your account.',
          params: GuidParams,
          headers: SubmitHeaders,
          body: RequestBody,
          // JSON first: Swagger UI shows the first one, and the JSON example reads best.
          consumes: ['application/json', 'application/x-www-form-urlencoded', 'multipart/form-data'],
          response: {
            201: {
              ...Type.Object({ data: EntrySchema, response: Type.Optional(EntrySchema) }, { examples: [{ data: tutorialRequestEntry }] }),
              headers: {
                ...REPLAYED_HEADER,
                'preference-applied': { type: 'string', description: 'wait=N when the answer waited for the response entry (then `response` is set)' },
              },
            },
            401: errorResponses[401],
            ...idempotencyErrors,
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
        const schemaErrors = schemaErrorsOf(request);
        const idempotencyKey = idempotencyKeyOf(request, schemaErrors);
        const { entry, replayed } = await entries.submit(
          auth.userId,
          { threadId: request.params.guid, body: request.body, schemaErrors },
          { applicationId: auth.applicationId, idempotencyKey },
        );
        if (replayed) reply.header('idempotent-replayed', 'true');
        const wait = preferredWait(request.headers.prefer);
        if (wait !== undefined && wait > 0) {
          // A client that goes away stops the wait (the request itself stays queued).
          const gone = new AbortController();
          const onClose = () => gone.abort();
          request.raw.once('close', onClose);
          try {
            const done = await entries.waitForResponse(auth.userId, entry.threadId, entry.id, wait * 1000, gone.signal);
            if (done) return reply.status(201).header('preference-applied', `wait=${wait}`).send({ data: entryView(done.request), response: entryView(done.response) });
          } finally {
            request.raw.off('close', onClose);
          }
        }
        return reply.status(201).send({ data: entryView(entry) });
      },
    );

    app.get<{ Params: Static<typeof GuidParams>; Querystring: Static<typeof SinceQuery> }>(
      '/threads/:guid/entries',
      {
        schema: {
          tags: ['entries'],
          summary: 'List the request and response entries of a thread, in order',
          description:
            'While a request waits for its response, the answer carries `Retry-After: 1`. A queued request carries `queue_position`, a running one `eta_seconds`. `since=<entry guid>` lists only the entries written after that one (a poller\'s cost stays flat as the thread grows; 422 when the thread has no such entry).',
          params: GuidParams,
          querystring: SinceQuery,
          response: { 200: Type.Object({ data: Type.Array(EntrySchema) }, { examples: [{ data: tutorialEntries }] }), 401: errorResponses[401], 404: errorResponses[404] },
        },
      },
      async (request, reply) => {
        const auth = requireAuth(request);
        const list = await lists.render(auth.userId, request.params.guid, request.query.since);
        if (list.waiting) reply.header('retry-after', '1');
        // Already JSON, built by entryView (the shape EntrySchema documents): Fastify sends strings as they are.
        return reply.type('application/json; charset=utf-8').send(list.json);
      },
    );

    app.get<{ Params: Static<typeof GuidParams>; Headers: Static<typeof EventHeaders> }>(
      '/threads/:guid/events',
      {
        schema: {
          tags: ['entries'],
          summary: "Follow a thread's requests: live status, progress, previews and results (server-sent events)",
          description: EVENT_STREAM_DESCRIPTION,
          params: GuidParams,
          headers: EventHeaders,
          produces: ['text/event-stream'],
          response: {
            200: {
              description: 'The event stream (text/event-stream), open until the client closes it',
              type: 'string',
              examples: ['id: 7\nevent: progress\ndata: {"entry_guid":"c7c088d3-7644-4385-b77c-a3ee98c4eed2","thread_guid":"44142638-4934-4bf5-9be7-b4b5a6368f44","step":12,"steps":45,"image":0,"images":2,"eta_seconds":9}\n\n'],
            },
            401: errorResponses[401],
            404: errorResponses[404],
            406: { description: 'The Accept header does not allow text/event-stream', ...ErrorBody },
            422: errorResponses[422],
          },
        },
      },
      async (request, reply) => {
        const auth = requireAuth(request);
        await entries.version(auth.userId, request.params.guid); // 404 for a thread the caller does not have
        if (!acceptsEventStream(request.headers.accept)) throw new AppError('not_acceptable', 'This route answers text/event-stream: send Accept: text/event-stream (or none).');
        const header = request.headers['last-event-id'];
        await streams.stream(request, reply, auth, request.params.guid, header === undefined ? undefined : Number(header));
        return reply;
      },
    );

    app.post<{ Params: Static<typeof EntryParams> }>(
      '/threads/:guid/entries/:entry_guid/cancel',
      {
        schema: {
          tags: ['entries'],
          summary: 'Cancel a request entry',
          description:
            'A queued request is cancelled and refunded in full. A running one stops within one denoising step: the images already finished are kept in its response entry and charged at the per-image price; the rest is refunded. Answers 202 with the request entry (a running one shows `running` until its worker has stopped: follow the events or the entries). 409 when the request has already finished.',
          params: EntryParams,
          response: {
            202: data(EntrySchema, { ...tutorialRequestEntry, status: 'cancelled', waiting_response: false }),
            401: errorResponses[401],
            404: errorResponses[404],
            409: { description: 'The request has already finished', ...ErrorBody, examples: [{ message: 'The request has already finished (done).', code: 'conflict' }] },
          },
        },
      },
      async (request, reply) => {
        const auth = requireAuth(request);
        const result = await entries.cancel(auth.userId, request.params.guid, request.params.entry_guid);
        return reply.status(202).send({ data: entryView(result.entry) });
      },
    );
  };
}
