/**
 * /api/v1/auth: register, log in and out with a browser session, and read the current session
 * (the user and the CSRF token the UI must send with every write).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { AppError } from '../../domain/errors.ts';
import type { UserService } from '../../services/identity/users.ts';
import { LoginThrottledError, type AccountService } from '../../services/web/accounts.ts';
import type { SessionService } from '../../services/web/sessions.ts';
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

const Credentials = Type.Object(
  {
    email: Type.String({ maxLength: 320, pattern: NO_CONTROL_CHARS, description: 'Account email (case-insensitive).', examples: ['ada@example.com'] }),
    password: Type.String({ maxLength: 1024, description: 'At least 8 characters.', examples: ['correct horse battery'] }),
  },
  { additionalProperties: false },
);
type CredentialsBody = Static<typeof Credentials>;

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

/**
 * Refuses credential posts from other sites (login CSRF): browsers send Origin on every cross-site POST.
 * Same origin means the Host the request came to, or the configured public URL (a proxy may rewrite Host).
 */
function checkOrigin(request: FastifyRequest, publicUrl: string): void {
  const origin = request.headers.origin;
  if (origin === undefined) return;
  const withoutDefaultPort = (host: string) => host.toLowerCase().replace(/:(80|443)$/, '');
  let host: string | undefined;
  try {
    const url = new URL(origin);
    if (url.origin === new URL(publicUrl).origin) return;
    host = url.host;
  } catch {
    host = undefined;
  }
  if (host === undefined || withoutDefaultPort(host) !== withoutDefaultPort(request.host)) {
    throw new AppError('csrf_mismatch', 'Cross-site request refused.');
  }
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

  app.post<{ Body: CredentialsBody }>(
    '/auth/register',
    {
      config: publicRoute,
      schema: {
        tags,
        summary: 'Create an account and log in',
        description: 'Creates the account (with the sign-up credits), opens a browser session and sets the HttpOnly `sdapi_session` cookie.',
        security: [],
        body: Credentials,
        response: { 201: SessionEnvelope, 403: err('Cross-site request refused'), 409: err('The email is already registered'), 422: invalid },
      },
    },
    async (request, reply) => {
      checkOrigin(request, deps.publicUrl);
      const { session } = await accounts.register(request.body.email, request.body.password, request.headers['user-agent']);
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
          'Checks the password, opens a browser session and sets the HttpOnly `sdapi_session` cookie. Failed attempts are throttled per account ' +
          'and per client address; a throttled attempt gets 429 with `Retry-After`.',
        security: [],
        body: Credentials,
        response: { 200: SessionEnvelope, 403: err('Cross-site request refused'), 422: invalid, 429: err('Too many failed attempts; see Retry-After') },
      },
    },
    async (request, reply) => {
      checkOrigin(request, deps.publicUrl);
      try {
        const session = await accounts.login(request.body.email, request.body.password, request.ip, request.headers['user-agent']);
        setSessionCookie(request, reply, session.secret, cookie);
        reply.header('cache-control', 'no-store');
        return view(session.userId, session, 'session');
      } catch (err) {
        if (err instanceof LoginThrottledError) reply.header('retry-after', String(err.retryAfterSeconds));
        throw err;
      }
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
