import type { Context, Env, MiddlewareHandler } from 'hono';
import type { RateLimiter } from '../auth/rateLimiter.ts';
import { LimitExceededError } from '../errors.ts';

export type RateLimitOptions<E extends Env> = {
  limiter: RateLimiter;
  /**
   * The bucket this request spends from, and optionally its own limit (a tenant's plan);
   * undefined lets the request through unmetered.
   */
  keyOf: (c: Context<E>) => { key: string; limit?: number } | undefined;
};

/**
 * Meters requests through `limiter`: sets `RateLimit-Limit` / `RateLimit-Remaining`, and
 * past the limit throws `LimitExceededError` (429) whose `retryAfterSeconds` the problem
 * handler turns into `Retry-After`.
 */
export function rateLimit<E extends Env>({ limiter, keyOf }: RateLimitOptions<E>): MiddlewareHandler<E> {
  return async (c, next) => {
    const bucket = keyOf(c);
    if (bucket === undefined) return next();
    const decision = limiter.take(bucket.key, bucket.limit === undefined ? {} : { limit: bucket.limit });
    c.header('RateLimit-Limit', String(decision.limit));
    c.header('RateLimit-Remaining', String(decision.remaining));
    if (!decision.allowed) {
      throw new LimitExceededError(`too many requests; retry in ${decision.retryAfterSeconds} s`, {
        detail: { retryAfterSeconds: decision.retryAfterSeconds },
      });
    }
    await next();
  };
}
