/**
 * /api/v1/auth: register, log in and out with a browser session, and read the current session
 * (the user and the CSRF token the UI must send with every write).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { AppError } from '../../domain/errors.ts';
import { PASSWORD_MAX, PASSWORD_MIN } from '../../services/identity/password-policy.ts';
import type { UserService } from '../../services/identity/users.ts';
import type { AccountService } from '../../services/web/accounts.ts';
import type { SessionService } from '../../services/web/sessions.ts';
import { RETRY_AFTER_HEADER } from '../rate-limit.ts';
import { crossSiteReason } from '../same-origin.ts';
import { clearSessionCookie, setSessionCookie } from '../session-auth.ts';
import { ErrorBody, NO_CONTROL_CHARS, ValidationErrorBody } from '../schemas.ts';
import { timestamp } from '../views.ts';

export interface AuthRouteDeps {
  accounts: AccountService;
  sessions: SessionService;
  users: UserService;
  /** SDAPI_PUBLIC_URL: when it is https, session cookies are always Secure (TLS ends at a proxy). */
  publicUrl: string;
}

const Email = Type.String({ maxLength: 320, pattern: NO_CONTROL_CHARS, description: 'Account email (case-insensitive).', examples: ['ada@example.com'] });

const Credentials = Type.Object(
  {
    email: Email,
    password: Type.String({ maxLength: 1024, description: 'The account password.', examples: ['correct horse battery'] }),
  },
  { additionalProperties: false },
);
type CredentialsBody = Static<typeof Credentials>;

const Registration = Type.Object(
  {
    email: Email,
    password: Type.String({
      maxLength: 1024,
      description: `${PASSWORD_MIN} to ${PASSWORD_MAX} characters; not one of the most common passwords, nor the email or its name part.`,
      examples: ['correct horse battery'],
    }),
    invite: Type.Optional(
      Type.String({ maxLength: 200, pattern: NO_CONTROL_CHARS, description: 'Invite code (`sdapi invites create`); required when sign-up is by invite.', examples: ['inv_Q2hhbmdlIG1lIHBsZWFzZQ'] }),
    ),
  },
  { additionalProperties: false },
);
type RegistrationBody = Static<typeof Registration>;

const SignupPolicyEnvelope = Type.Object({
  data: Type.Object({
    mode: Type.Union([Type.Literal('open'), Type.Literal('closed'), Type.Literal('invite')], { description: 'open: anyone may register; invite: an invite code is needed; closed: no self-registration.' }),
    password_min_length: Type.Integer(),
    password_max_length: Type.Integer(),
  }),
});

export const SessionUser = Type.Object({
  id: Type.String(),
  email: Type.String(),
  credits: Type.Integer({ description: 'Spendable credit balance.' }),
  created_at: Type.String(),
});

const SessionView = Type.Object({
  user: Type.Union([SessionUser, Type.Null()], { description: 'The signed-in user, or null.' }),
  method: Type.Union([Type.Literal('session'), Type.Literal('token'), Type.Null()], { description: 'How this request was authenticated.' }),
  csrf_token: Type.Union([Type.String(), Type.Null()], { description: 'Send as `X-CSRF-Token` with every cookie-authenticated write.' }),
  expires_at: Type.Union([Type.String(), Type.Null()]),
});

const SessionEnvelope = Type.Object({ data: SessionView });

const tags = ['auth'];
const publicRoute = { public: true };
const err = (description: string) => ({ description, ...ErrorBody });
const invalid = { description: 'Invalid input', ...ValidationErrorBody };
const throttled = (description: string) => ({ description, headers: RETRY_AFTER_HEADER, ...ErrorBody });

/** Refuses credential posts from other sites (login CSRF): same-origin.ts says how a cross-site post is recognised. */
function checkOrigin(request: FastifyRequest, publicUrl: string): void {
  if (crossSiteReason(request, publicUrl)) throw new AppError('csrf_mismatch', 'Cross-site request refused.');
}

/** Registered inside the /api/v1 scope (after the auth hook). */
export function authRoutes(deps: AuthRouteDeps): FastifyPluginAsync {
  return (app) => registerAuthRoutes(app, deps);
}

async function registerAuthRoutes(app: FastifyInstance, deps: AuthRouteDeps): Promise<void> {
  const { accounts, sessions, users } = deps;
  const cookie = { maxAgeSeconds: Math.floor(sessions.options.absoluteMs / 1000), alwaysSecure: deps.publicUrl.startsWith('https://') };

  const view = async (userId: string, session: { csrfToken: string; expiresAt: string } | null, method: 'session' | 'token') => {
    const user = await users.get(userId);
    return {
      data: {
        user: { id: user.id, email: user.email, credits: user.credits, created_at: timestamp(user.createdAt) },
        method,
        csrf_token: session?.csrfToken ?? null,
        expires_at: session?.expiresAt ?? null,
      },
    };
  };

  app.get(
    '/auth/signup',
    {
      config: publicRoute,
      schema: {
        tags,
        summary: 'How registration works here',
        description: 'Whether self-registration is open, by invite or closed (SDAPI_SIGNUP), and the password length rules the register form shows.',
        security: [],
        response: { 200: SignupPolicyEnvelope },
      },
    },
    async () => ({ data: { mode: accounts.signupMode, password_min_length: PASSWORD_MIN, password_max_length: PASSWORD_MAX } }),
  );

  app.post<{ Body: RegistrationBody }>(
    '/auth/register',
    {
      config: publicRoute,
      schema: {
        tags,
        summary: 'Create an account and log in',
        description:
          'Creates the account (with the sign-up credits, or the invite\'s), opens a browser session and sets the HttpOnly `sdapi_session` cookie. ' +
          'Registrations are limited per client address (SDAPI_SIGNUP_LIMIT, default 5 per hour: then 429 with Retry-After); with SDAPI_SIGNUP=invite an ' +
          'invite code is required, with SDAPI_SIGNUP=closed registration answers 403.',
        security: [],
        body: Registration,
        response: {
          201: SessionEnvelope,
          403: err('Cross-site request refused, or registration is closed (code signup_closed)'),
          409: err('The email is already registered'),
          422: invalid,
          429: throttled('Too many registrations from this address; see Retry-After'),
        },
      },
    },
    async (request, reply) => {
      checkOrigin(request, deps.publicUrl);
      const { email, password, invite } = request.body;
      const { session } = await accounts.register({ email, password, invite, address: request.ip, userAgent: request.headers['user-agent'] });
      setSessionCookie(request, reply, session.secret, cookie);
      reply.header('cache-control', 'no-store').code(201);
      return view(session.userId, session, 'session');
    },
  );

  app.post<{ Body: CredentialsBody }>(
    '/auth/login',
    {
      config: publicRoute,
      schema: {
        tags,
        summary: 'Log in',
        description:
          'Checks the password, opens a browser session and sets the HttpOnly `sdapi_session` cookie. Every attempt is counted before its ' +
          'password is checked: 5 per account and client address, and 20 failed ones per address, in 15 minutes, then 429 with `Retry-After`; ' +
          'past 10 failures on one account from all addresses, attempts on it are slowed down (never refused).',
        security: [],
        body: Credentials,
        response: { 200: SessionEnvelope, 403: err('Cross-site request refused'), 422: invalid, 429: throttled('Too many attempts; see Retry-After') },
      },
    },
    async (request, reply) => {
      checkOrigin(request, deps.publicUrl);
      const session = await accounts.login(request.body.email, request.body.password, request.ip, request.headers['user-agent']);
      setSessionCookie(request, reply, session.secret, cookie);
      reply.header('cache-control', 'no-store');
      return view(session.userId, session, 'session');
    },
  );

  app.post(
    '/auth/logout',
    {
      config: publicRoute,
      schema: {
        tags,
        summary: 'Log out',
        description: 'Ends the browser session and clears its cookie. Needs `X-CSRF-Token` like every cookie-authenticated write.',
        response: { 204: Type.Null(), 403: err('CSRF token mismatch') },
      },
    },
    async (request, reply) => {
      const auth = request.auth;
      if (auth?.method === 'session' && auth.sessionId) await accounts.logout(auth.sessionId);
      clearSessionCookie(request, reply, cookie);
      return reply.code(204).send();
    },
  );

  app.get(
    '/auth/session',
    {
      config: publicRoute,
      schema: {
        tags,
        summary: 'The current session',
        description: 'The signed-in user and the CSRF token for this session; `user` is null when the request is not authenticated.',
        security: [],
        response: { 200: SessionEnvelope },
      },
    },
    async (request, reply) => {
      reply.header('cache-control', 'no-store');
      const auth = request.auth;
      if (!auth) return { data: { user: null, method: null, csrf_token: null, expires_at: null } };
      const session = auth.method === 'session' && auth.sessionId ? ((await sessions.get(auth.sessionId)) ?? null) : null;
      return view(auth.userId, session, auth.method);
    },
  );
}
