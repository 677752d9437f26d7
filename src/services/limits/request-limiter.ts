/**
 * The per-request API rate limit: a quota of requests per key (a bearer token, a browser session, or the client
 * address of an unauthenticated request) in a fixed window. Counters come from rate-limiter-flexible: in this
 * process's memory by default, or in Redis (one atomic INCR + PEXPIRE script per request) when Redis is configured,
 * so every API process shares them. Never a database write per request.
 */
import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';

export interface RequestLimitPolicy {
  /** The policy's name in the RateLimit fields. */
  name: string;
  /** Requests per window. */
  quota: number;
  windowSeconds: number;
}

export interface RequestVerdict {
  allowed: boolean;
  /** Requests left in the window after this one. */
  remaining: number;
  /** Whole seconds until the window ends and the quota is whole again. */
  resetSeconds: number;
}

export class RequestLimiter {
  constructor(
    readonly policy: RequestLimitPolicy,
    private readonly counters: RateLimiterAbstract,
  ) {}

  /** Counts one request for `key`. Fails open: if the counter store throws, the request is allowed. */
  consume(key: string): Promise<RequestVerdict> {
    // then() rather than async/await: this runs on every API request, and each await is another microtask.
    return this.counters.consume(key).then(allowed, (err: unknown) => {
      if (err instanceof RateLimiterRes) return { allowed: false, remaining: 0, resetSeconds: seconds(err.msBeforeNext) };
      // Both Redis and the in-memory insurance failed: serving unlimited beats refusing everyone.
      return { allowed: true, remaining: this.policy.quota, resetSeconds: this.policy.windowSeconds };
    });
  }
}

function allowed(res: RateLimiterRes): RequestVerdict {
  return { allowed: true, remaining: res.remainingPoints, resetSeconds: seconds(res.msBeforeNext) };
}

function seconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/** Counters in this process's memory: right for one API process. */
export function memoryRequestLimiter(policy: RequestLimitPolicy): RequestLimiter {
  return new RequestLimiter(policy, new RateLimiterMemory({ points: policy.quota, duration: policy.windowSeconds, keyPrefix: policy.name }));
}

/**
 * Counters in Redis under `<prefix>:rl:<policy>:<key>`, shared by every API process. While Redis does not answer, an
 * in-memory limiter with the same policy stands in (per process), so the API neither stalls nor goes unlimited.
 */
export function redisRequestLimiter(policy: RequestLimitPolicy, client: Redis, prefix: string): RequestLimiter {
  const insurance = new RateLimiterMemory({ points: policy.quota, duration: policy.windowSeconds, keyPrefix: policy.name });
  const counters = new RateLimiterRedis({
    storeClient: client,
    points: policy.quota,
    duration: policy.windowSeconds,
    keyPrefix: `${prefix}:rl:${policy.name}`,
    rejectIfRedisNotReady: true,
    insuranceLimiter: insurance,
  });
  return new RequestLimiter(policy, counters);
}
