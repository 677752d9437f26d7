/**
 * /api/v1 account routes: the balance, the credit ledger, applications and their bearer tokens. Each works with a
 * bearer token or the session cookie (+ X-CSRF-Token for writes); every query is scoped to the caller's
 * account, so another account's application or token answers 404 exactly like a missing one.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { CreditService } from '../../services/credits/credit-service.ts';
import type { ApiTokenInfo, Application, ApplicationService } from '../../services/identity/applications.ts';
import type { SchedulingService } from '../../services/jobs/scheduling-service.ts';
import { requireAuth } from '../auth.ts';
import { AccountSchema, data, errorResponses, NO_CONTROL_CHARS, PAGE_MAX, PARAM_MAX } from '../schemas.ts';
import { accountExample } from '../examples.ts';
import { timestamp } from '../views.ts';
import { accountErrors } from './web-common.ts';

export interface AccountRouteDeps {
  applications: ApplicationService;
  credits: CreditService;
  scheduling: SchedulingService;
}

const tags = ['account'];
const Id = Type.String({ minLength: 1, maxLength: PARAM_MAX });
const Name = Type.String({ minLength: 1, maxLength: 100, pattern: NO_CONTROL_CHARS, description: 'One line of text, no control characters.' });

const ApplicationView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  created_at: Type.String(),
  updated_at: Type.String(),
});

const TokenView = Type.Object({
  id: Type.String(),
  application_id: Type.String(),
  name: Type.String(),
  prefix: Type.String({ description: 'The first characters of the token, to tell tokens apart.' }),
  created_at: Type.String(),
  last_used_at: Type.Union([Type.String(), Type.Null()]),
  revoked_at: Type.Union([Type.String(), Type.Null()]),
});

const NewTokenView = Type.Intersect([
  TokenView,
  Type.Object({ token: Type.String({ description: 'The bearer token. Shown in this response only; the server keeps only its SHA-256.' }) }),
]);

const LedgerItemView = Type.Object({
  id: Type.String(),
  kind: Type.Union([Type.Literal('grant'), Type.Literal('reserve'), Type.Literal('charge'), Type.Literal('refund')]),
  amount: Type.Integer({ description: 'Change of the spendable balance: grants and refunds add, a reservation subtracts, a charge settles a reservation (0).' }),
  billed: Type.Integer({ description: 'Credits this movement holds (reserve) or bills (charge).' }),
  balance_after: Type.Integer(),
  entry_guid: Type.Union([Type.String(), Type.Null()], { description: 'The request entry the movement belongs to.' }),
  reason: Type.String(),
  created_at: Type.String(),
});

const PageMeta = Type.Object({
  current_page: Type.Integer(),
  per_page: Type.Integer(),
  total: Type.Integer(),
  last_page: Type.Integer(),
});

const AppParams = Type.Object({ id: Id });
const TokenParams = Type.Object({ id: Id, tokenId: Id });
const NameBody = Type.Object({ name: Name }, { additionalProperties: false });
const TokenBody = Type.Object({ name: Type.Optional(Name) }, { additionalProperties: false });
const LedgerQuery = Type.Object({
  page: Type.Optional(Type.Integer({ minimum: 1, maximum: PAGE_MAX, default: 1 })),
  per_page: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
});

const errors = accountErrors;

function application(a: Application): Static<typeof ApplicationView> {
  return { id: a.id, name: a.name, created_at: timestamp(a.createdAt), updated_at: timestamp(a.updatedAt) };
}

function token(t: ApiTokenInfo): Static<typeof TokenView> {
  return {
    id: t.id,
    application_id: t.applicationId,
    name: t.name,
    prefix: t.prefix,
    created_at: timestamp(t.createdAt),
    last_used_at: t.lastUsedAt && timestamp(t.lastUsedAt),
    revoked_at: t.revokedAt && timestamp(t.revokedAt),
  };
}

/** Registered inside the /api/v1 scope (after the auth hook). */
export function accountRoutes(deps: AccountRouteDeps): FastifyPluginAsync {
  return (app) => registerAccountRoutes(app, deps);
}

async function registerAccountRoutes(app: FastifyInstance, deps: AccountRouteDeps): Promise<void> {
  const { applications, credits, scheduling } = deps;

  app.get(
    '/account',
    {
      schema: {
        tags,
        summary: 'The caller: email, credit balance, scheduling priority and caps',
        description: 'Also how many of the account\'s requests run and wait now. See docs/scheduling.md for how priorities and caps share the workers.',
        response: { 200: data(AccountSchema, accountExample), 401: errorResponses[401] },
      },
    },
    async (request) => {
      const auth = requireAuth(request);
      const [balance, s] = await Promise.all([credits.balance(auth.userId), scheduling.settings(auth.userId)]);
      return {
        data: { email: auth.email, credits: balance, priority: s.priority, max_running: s.maxRunning, max_queued: s.maxQueued, running: s.running, queued: s.queued },
      };
    },
  );

  app.get<{ Querystring: Static<typeof LedgerQuery> }>(
    '/account/ledger',
    {
      schema: {
        tags,
        summary: 'Credit ledger',
        description: 'Every movement of the credit balance, newest first: grants, what each request reserved and was charged, and refunds.',
        querystring: LedgerQuery,
        response: { 200: Type.Object({ data: Type.Array(LedgerItemView), meta: PageMeta }), ...errors },
      },
    },
    async (request) => {
      const auth = requireAuth(request);
      const result = await credits.listLedger(auth.userId, { page: request.query.page ?? 1, perPage: request.query.per_page ?? 50 });
      return {
        data: result.items.map((i) => ({
          id: i.id,
          kind: i.kind,
          amount: i.amount,
          billed: i.billed,
          balance_after: i.balanceAfter,
          entry_guid: i.entryId,
          reason: i.reason,
          created_at: timestamp(i.createdAt),
        })),
        meta: {
          current_page: result.page,
          per_page: result.perPage,
          total: result.total,
          last_page: Math.max(1, Math.ceil(result.total / result.perPage)),
        },
      };
    },
  );

  app.get(
    '/applications',
    {
      schema: { tags, summary: 'List applications', response: { 200: Type.Object({ data: Type.Array(ApplicationView) }), ...errors } },
    },
    async (request) => {
      const auth = requireAuth(request);
      return { data: (await applications.list(auth.userId)).map(application) };
    },
  );

  app.post<{ Body: Static<typeof NameBody> }>(
    '/applications',
    {
      schema: {
        tags,
        summary: 'Create an application',
        body: NameBody,
        response: { 201: Type.Object({ data: ApplicationView }), ...errors },
      },
    },
    async (request, reply) => {
      const auth = requireAuth(request);
      reply.code(201);
      return { data: application(await applications.create(auth.userId, request.body.name)) };
    },
  );

  app.get<{ Params: Static<typeof AppParams> }>(
    '/applications/:id',
    { schema: { tags, summary: 'Get an application', params: AppParams, response: { 200: Type.Object({ data: ApplicationView }), ...errors } } },
    async (request) => {
      const auth = requireAuth(request);
      return { data: application(await applications.get(auth.userId, request.params.id)) };
    },
  );

  app.patch<{ Params: Static<typeof AppParams>; Body: Static<typeof NameBody> }>(
    '/applications/:id',
    {
      schema: { tags, summary: 'Rename an application', params: AppParams, body: NameBody, response: { 200: Type.Object({ data: ApplicationView }), ...errors } },
    },
    async (request) => {
      const auth = requireAuth(request);
      return { data: application(await applications.rename(auth.userId, request.params.id, request.body.name)) };
    },
  );

  app.delete<{ Params: Static<typeof AppParams> }>(
    '/applications/:id',
    {
      schema: {
        tags,
        summary: 'Delete an application',
        description: 'Deletes the application and revokes all its tokens at once.',
        params: AppParams,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (request, reply) => {
      const auth = requireAuth(request);
      await applications.delete(auth.userId, request.params.id);
      return reply.code(204).send();
    },
  );

  app.get<{ Params: Static<typeof AppParams> }>(
    '/applications/:id/tokens',
    {
      schema: {
        tags,
        summary: "List an application's tokens",
        description: 'Name, prefix, creation and last use of each token; the tokens themselves are never shown again.',
        params: AppParams,
        response: { 200: Type.Object({ data: Type.Array(TokenView) }), ...errors },
      },
    },
    async (request) => {
      const auth = requireAuth(request);
      return { data: (await applications.listTokens(auth.userId, request.params.id)).map(token) };
    },
  );

  app.post<{ Params: Static<typeof AppParams>; Body: Static<typeof TokenBody> | undefined }>(
    '/applications/:id/tokens',
    {
      schema: {
        tags,
        summary: 'Generate a bearer token',
        description: 'The response carries the token itself; it is shown this once and stored only as a hash.',
        params: AppParams,
        body: TokenBody,
        response: { 201: Type.Object({ data: NewTokenView }), ...errors },
      },
    },
    async (request, reply) => {
      const auth = requireAuth(request);
      const created = await applications.createToken(auth.userId, request.params.id, request.body?.name ?? 'default');
      reply.code(201).header('cache-control', 'no-store');
      return { data: { ...token(created), token: created.token } };
    },
  );

  app.delete<{ Params: Static<typeof TokenParams> }>(
    '/applications/:id/tokens/:tokenId',
    {
      schema: {
        tags,
        summary: 'Revoke a token',
        description: 'The token is rejected (401) from the next request on.',
        params: TokenParams,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (request, reply) => {
      const auth = requireAuth(request);
      await applications.revokeToken(auth.userId, request.params.id, request.params.tokenId);
      return reply.code(204).send();
    },
  );
}
