import type { Context, Env, MiddlewareHandler } from 'hono';
import type { RateLimitDecision, TakeOptions } from '../auth/rateLimiter.ts';
import { LimitExceededError } from '../errors.ts';

export type RateLimitBucket = {
  key: string;
  /** This bucket's own limit per window (a tenant's plan); the limiter's otherwise. */
  limit?: number;
  /** What this request costs; 1 by default, and never more than the limit. */
  cost?: number;
};

/** A per-process (`createRateLimiter`) or shared (`createSharedRateLimiter`) limiter. */
export type AnyRateLimiter = {
  take(key: string, options?: TakeOptions): RateLimitDecision | Promise<RateLimitDecision>;
};

export type RateLimitOptions<E extends Env> = {
  limiter: AnyRateLimiter;
  /** The window of the limiter, seconds, for `RateLimit-Policy`; 60 by default. */
  windowSeconds?: number;
  /** The bucket this request spends from; undefined lets the request through unmetered. */
  keyOf: (c: Context<E>) => RateLimitBucket | undefined | Promise<RateLimitBucket | undefined>;
};

/**
 * The IETF draft's headers (draft-ietf-httpapi-ratelimit-headers, in the widely deployed
 * `RateLimit-Limit` / `-Remaining` / `-Reset` form, plus `RateLimit-Policy`).
 */
export function setRateLimitHeaders(c: Context, decision: RateLimitDecision, windowSeconds: number) {
  c.header('RateLimit-Limit', String(decision.limit));
  c.header('RateLimit-Remaining', String(decision.remaining));
  c.header('RateLimit-Reset', String(decision.allowed ? decision.resetSeconds : decision.retryAfterSeconds));
  c.header('RateLimit-Policy', `${decision.limit};w=${windowSeconds}`);
}

/**
 * Meters requests through a limiter: sets the `RateLimit-*` headers, and past the limit
 * throws `LimitExceededError` (429) whose `retryAfterSeconds` the problem handler turns into
 * `Retry-After`.
 */
export function rateLimit<E extends Env>({
  limiter,
  windowSeconds = 60,
  keyOf,
}: RateLimitOptions<E>): MiddlewareHandler<E> {
  return async (c, next) => {
    const bucket = await keyOf(c);
    if (bucket === undefined) return next();
    const limit = bucket.limit;
    // A route dearer than a tiny plan's whole budget still runs, spending all of it.
    const cost = Math.min(bucket.cost ?? 1, limit ?? Infinity);
    const decision = await limiter.take(bucket.key, { cost, ...(limit === undefined ? {} : { limit }) });
    setRateLimitHeaders(c, decision, windowSeconds);
    if (!decision.allowed) {
      throw new LimitExceededError(
        `the plan allows ${decision.limit} request units per ${windowSeconds} s; retry in ${decision.retryAfterSeconds} s`,
        { detail: { retryAfterSeconds: decision.retryAfterSeconds, cost } },
      );
    }
    await next();
  };
}
