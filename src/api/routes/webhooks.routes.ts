/**
 * Webhooks: the signing secret of the calling token's application (and, for the web UI, of any of the account's
 * applications), its rotation, and the delivery attempts of a request entry. Every read is scoped to the caller's
 * account: another account's application, thread or entry answers 404 like a missing one.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { AppError } from '../../domain/errors.ts';
import type { WebhookDelivery, WebhookOutbox } from '../../services/webhooks/webhook-outbox.ts';
import type { WebhookSecret, WebhookSecretService } from '../../services/webhooks/webhook-secrets.ts';
import { requireAuth } from '../auth.ts';
import { data, EntryParams, ErrorBody, errorResponses, Nullable, PARAM_MAX } from '../schemas.ts';
import { timestamp } from '../views.ts';
import { accountErrors } from './web-common.ts';

export interface WebhookRouteDeps {
  webhooks: WebhookOutbox;
  webhookSecrets: WebhookSecretService;
}

const SecretSchema = Type.Object({
  secret: Type.String({ description: 'whsec_ + base64 of the HMAC key: verify webhook-signature with it (Standard Webhooks)', examples: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'] }),
  previous_secret_expires_at: Nullable(Type.String({ description: 'After a rotation: until when deliveries also carry a signature made with the previous secret' })),
});

const AttemptSchema = Type.Object({
  attempt: Type.Integer({ description: '1 for the first try' }),
  status_code: Nullable(Type.Integer({ description: "The receiver's HTTP status; null when no answer came" })),
  error: Nullable(Type.String({ description: 'Why the attempt failed (no 2xx): the status, a timeout, a refused address, …' })),
  duration_ms: Type.Integer(),
  attempted_at: Type.String(),
});

const DeliverySchema = Type.Object({
  webhook_id: Type.String({ description: 'The webhook-id header: the same on every attempt of this event' }),
  type: Type.String({ enum: ['entry.started', 'entry.completed', 'entry.failed', 'entry.cancelled'] }),
  url: Type.String(),
  status: Type.String({ enum: ['pending', 'delivering', 'delivered', 'failed'], description: 'failed: given up after the last retry' }),
  next_attempt_at: Nullable(Type.String({ description: 'When a pending delivery is tried next' })),
  created_at: Type.String(),
  finished_at: Nullable(Type.String()),
  attempts: Type.Array(AttemptSchema),
});

const secretExample = { secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw7w5gEZtYk2c=', previous_secret_expires_at: null };
const deliveriesExample = [
  {
    webhook_id: 'msg_2b7f0e0c9d4e4b1a8f3c5d6e7f8a9b0c',
    type: 'entry.completed',
    url: 'https://example.com/hooks/sdapi',
    status: 'delivered',
    next_attempt_at: null,
    created_at: '2023-07-13T19:57:02.000000Z',
    finished_at: '2023-07-13T19:57:38.000000Z',
    attempts: [
      { attempt: 1, status_code: 500, error: 'the receiver answered 500', duration_ms: 41, attempted_at: '2023-07-13T19:57:02.000000Z' },
      { attempt: 2, status_code: null, error: 'no answer within 10 s', duration_ms: 10002, attempted_at: '2023-07-13T19:57:07.000000Z' },
      { attempt: 3, status_code: 200, error: null, duration_ms: 37, attempted_at: '2023-07-13T19:57:38.000000Z' },
    ],
  },
];

const AppParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: PARAM_MAX }) });
const RedeliverParams = Type.Object({ ...EntryParams.properties, webhook_id: Type.String({ minLength: 1, maxLength: PARAM_MAX }) });

function secretView(s: WebhookSecret): Static<typeof SecretSchema> {
  return { secret: s.secret, previous_secret_expires_at: s.previousExpiresAt && timestamp(s.previousExpiresAt) };
}

function deliveryView(d: WebhookDelivery): Static<typeof DeliverySchema> {
  return {
    webhook_id: d.id,
    type: d.type,
    url: d.url,
    status: d.status,
    next_attempt_at: d.nextAttemptAt && timestamp(d.nextAttemptAt),
    created_at: timestamp(d.createdAt),
    finished_at: d.finishedAt && timestamp(d.finishedAt),
    attempts: d.attempts.map((a) => ({ attempt: a.attempt, status_code: a.statusCode, error: a.error, duration_ms: a.durationMs, attempted_at: timestamp(a.attemptedAt) })),
  };
}

/** The calling token's application; browser sessions have none. */
function tokenApplication(request: FastifyRequest): { userId: string; applicationId: string } {
  const auth = requireAuth(request);
  if (!auth.applicationId) {
    throw new AppError('bad_request', "This route answers for the bearer token's application: use GET /applications/{id}/webhooks/secret with a browser session.");
  }
  return { userId: auth.userId, applicationId: auth.applicationId };
}

const tags = ['webhooks'];
const tokenErrors = { 400: { description: 'Not called with a bearer token', ...ErrorBody }, 401: errorResponses[401] };

export function webhookRoutes({ webhooks, webhookSecrets }: WebhookRouteDeps): FastifyPluginAsync {
  return async (app) => {
    app.get(
      '/webhook-secret',
      {
        schema: {
          tags,
          summary: "The webhook signing secret of the calling token's application",
          description: 'Webhooks of requests sent with this token are signed with it (Standard Webhooks: the HMAC key is the base64-decoded part after whsec_).',
          response: { 200: data(SecretSchema, secretExample), ...tokenErrors },
        },
      },
      async (request) => {
        const { userId, applicationId } = tokenApplication(request);
        return { data: secretView(await webhookSecrets.get(userId, applicationId)) };
      },
    );

    app.post(
      '/webhook-secret/rotate',
      {
        schema: {
          tags,
          summary: "Rotate the calling token's application's webhook secret",
          description: 'Makes a new secret. For 24 h, deliveries carry two signatures, space-separated: one with the new secret, one with the old.',
          response: { 200: data(SecretSchema, secretExample), ...tokenErrors },
        },
      },
      async (request) => {
        const { userId, applicationId } = tokenApplication(request);
        return { data: secretView(await webhookSecrets.rotate(userId, applicationId)) };
      },
    );

    // Not /applications/{id}/webhook-secret: `..` as the id would make that path /webhook-secret, another route.
    app.get<{ Params: Static<typeof AppParams> }>(
      '/applications/:id/webhooks/secret',
      { schema: { tags, summary: "An application's webhook signing secret", params: AppParams, response: { 200: data(SecretSchema, secretExample), ...accountErrors } } },
      async (request) => {
        const auth = requireAuth(request);
        return { data: secretView(await webhookSecrets.get(auth.userId, request.params.id)) };
      },
    );

    app.post<{ Params: Static<typeof AppParams> }>(
      '/applications/:id/webhooks/secret/rotate',
      {
        schema: {
          tags,
          summary: "Rotate an application's webhook secret",
          description: 'The old secret keeps signing (a second signature) for 24 h.',
          params: AppParams,
          response: { 200: data(SecretSchema, secretExample), ...accountErrors },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        return { data: secretView(await webhookSecrets.rotate(auth.userId, request.params.id)) };
      },
    );

    app.get<{ Params: Static<typeof EntryParams> }>(
      '/threads/:guid/entries/:entry_guid/deliveries',
      {
        schema: {
          tags,
          summary: "The webhook deliveries of a request entry, with every attempt's status code and time",
          params: EntryParams,
          response: { 200: Type.Object({ data: Type.Array(DeliverySchema) }, { examples: [{ data: deliveriesExample }] }), 401: errorResponses[401], 404: errorResponses[404] },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        return { data: (await webhooks.deliveries(auth.userId, request.params.guid, request.params.entry_guid)).map(deliveryView) };
      },
    );

    app.post<{ Params: Static<typeof RedeliverParams> }>(
      '/threads/:guid/entries/:entry_guid/deliveries/:webhook_id/redeliver',
      {
        schema: {
          tags,
          summary: 'Send a delivered or given-up webhook again',
          description: 'Same webhook-id and body, freshly signed, with a new round of retries. 409 while it is still being retried.',
          params: RedeliverParams,
          response: {
            202: Type.Null({ description: 'Queued' }),
            401: errorResponses[401],
            404: errorResponses[404],
            409: { description: 'Still being delivered', ...ErrorBody },
          },
        },
      },
      async (request, reply) => {
        const auth = requireAuth(request);
        await webhooks.redeliver(auth.userId, request.params.guid, request.params.entry_guid, request.params.webhook_id);
        return reply.status(202).send();
      },
    );
  };
}
