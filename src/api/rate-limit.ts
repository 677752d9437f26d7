/**
 * The API rate limit as HTTP: every response of a limited surface carries the RateLimit-Policy and RateLimit fields
 * of draft-ietf-httpapi-ratelimit-headers-10 (§3, §4; the syntax is unchanged since draft 08):
 *
 *   RateLimit-Policy: "default";q=150;w=10      the quota policy: 150 requests per 10-second window
 *   RateLimit: "default";r=149;t=7              this key's service limit: 149 left, window ends in 7 s
 *
 * Past the quota the answer is 429 with Retry-After (never earlier than t, as §6 asks) and a body the surface
 * chooses (default `{"message": "Too Many Requests"}`). The key is the bearer token, the browser session, or, for
 * anything unauthenticated (no credentials, bad credentials, public routes), the client address, so a flood of
 * invalid tokens is limited like one client.
 */
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import type { RequestLimiter, RequestLimitPolicy } from '../services/limits/request-limiter.ts';

/** What the key needs of an auth context (auth.ts's AuthContext fits). */
export interface RateLimitSubject {
  tokenId?: string;
  sessionId?: string;
}

export type RateLimitErrorBody = (retryAfterSeconds: number) => unknown;

export const defaultRateLimitBody: RateLimitErrorBody = () => ({ message: 'Too Many Requests' });

export interface RateLimit {
  limiter: RequestLimiter;
  /** The 429 body of this surface (each API surface answers errors in its own shape). */
  errorBody?: RateLimitErrorBody;
}

/** The RateLimit-Policy field value of a policy (a Structured Fields List of one String item). */
export function policyField(policy: RequestLimitPolicy): string {
  return `"${policy.name}";q=${policy.quota};w=${policy.windowSeconds}`;
}

/** The constant parts of the fields, per limiter (built once: this runs on every API request). */
const FIELDS = new WeakMap<RequestLimiter, { policy: string; prefix: string }>();

/** The counter key of a request: its token or session, else its client address. */
export function rateLimitKey(request: FastifyRequest, auth: RateLimitSubject | null): string {
  if (auth?.tokenId) return `t:${auth.tokenId}`;
  if (auth?.sessionId) return `s:${auth.sessionId}`;
  return `a:${request.ip}`;
}

/**
 * Counts the request under `key` and sets the RateLimit fields. Past the quota it sends the 429 and returns true:
 * the caller (a hook) then returns the reply and the request goes no further.
 */
export async function applyRateLimit(rateLimit: RateLimit, key: string, reply: FastifyReply): Promise<boolean> {
  const { limiter } = rateLimit;
  const verdict = await limiter.consume(key);
  let fields = FIELDS.get(limiter);
  if (!fields) FIELDS.set(limiter, (fields = { policy: policyField(limiter.policy), prefix: `"${limiter.policy.name}";r=` }));
  reply.header('ratelimit-policy', fields.policy).header('ratelimit', `${fields.prefix}${verdict.remaining};t=${verdict.resetSeconds}`);
  if (verdict.allowed) return false;
  reply
    .code(429)
    .header('retry-after', String(verdict.resetSeconds))
    .send((rateLimit.errorBody ?? defaultRateLimitBody)(verdict.resetSeconds));
  return true;
}

/**
 * A stand-alone onRequest hook for a surface that authenticates on its own (the API scope of app.ts calls
 * applyRateLimit from its authentication hook instead, so the key can be the authenticated token). `key`
 * defaults to the request's auth, else its address.
 */
export function rateLimitHook(rateLimit: RateLimit, key: (request: FastifyRequest) => string = (r) => rateLimitKey(r, r.auth)): onRequestHookHandler {
  return async function rateLimited(request, reply) {
    if (await applyRateLimit(rateLimit, key(request), reply)) return reply;
  };
}

/** OpenAPI (@fastify/swagger reads a response schema's `headers` as JSON schemas): the fields every rate-limited response carries. */
export const RATE_LIMIT_HEADERS = {
  RateLimit: {
    type: 'string',
    description: 'This key\'s service limit (draft-ietf-httpapi-ratelimit-headers-10): `"default";r=<requests left>;t=<seconds until the window ends>`, e.g. `"default";r=149;t=7`.',
  },
  'RateLimit-Policy': {
    type: 'string',
    description: 'The quota policy, per bearer token, session, or client address when unauthenticated: `"default";q=<requests>;w=<window seconds>`, e.g. `"default";q=150;w=10`.',
  },
} as const;

export const RETRY_AFTER_HEADER = {
  'Retry-After': { type: 'integer', description: 'Seconds to wait before the next attempt.' },
} as const;
