import { z } from 'zod';
import { sql, type DatabasePool } from '../database.ts';
import type { RateLimitDecision, TakeOptions } from './rateLimiter.ts';

/**
 * A token bucket per key kept in PostgreSQL (`auth.rate_limit_buckets`, migration
 * `write-api/migrations/003_sign_in_throttle.sql`), so every process of an API spends from one
 * bucket: with N replicas a tenant still gets its plan's rate, not N times it. One upsert per
 * request, which refills, spends and answers atomically under the row's lock.
 *
 * Same refill rule as `createRateLimiter`: `limit` per `windowSeconds`, smoothly; a refused
 * request spends nothing.
 */
export type SharedRateLimiterOptions = {
  /** Requests per window unless `take` names another limit. */
  limit: number;
  windowSeconds: number;
  /** Epoch milliseconds. */
  clock?: () => number;
};

export type SharedRateLimiter = {
  take(key: string, options?: TakeOptions): Promise<RateLimitDecision>;
};

const bucketRow = z.object({ tokens: z.number(), allowed: z.boolean() });

export function createSharedRateLimiter(
  pool: DatabasePool,
  options: SharedRateLimiterOptions,
): SharedRateLimiter {
  const { windowSeconds, clock = Date.now } = options;
  if (!(options.limit > 0) || !(windowSeconds > 0)) {
    throw new Error('a rate limit needs a positive limit and window');
  }
  const windowMs = windowSeconds * 1000;
  let purgedAt = 0;

  return {
    async take(key, { cost = 1, limit = options.limit } = {}) {
      if (!(limit > 0)) throw new Error(`a rate limit is positive, not ${limit}`);
      if (!(cost > 0 && cost <= limit))
        throw new Error(`a request costs more than 0 and at most ${limit}, not ${cost}`);
      const now = clock();
      const refilled = sql.fragment`least(${limit}::float8,
        b.tokens + greatest(0, ${now}::bigint - b.updated_ms) * ${limit}::float8 / ${windowMs}::float8)`;
      const { tokens, allowed } = await pool.one(sql.type(bucketRow)`
        insert into auth.rate_limit_buckets as b (key, tokens, updated_ms, allowed)
        values (${key}, ${limit - cost}::float8, ${now}::bigint, true)
        on conflict (key) do update set
          tokens = case when ${refilled} >= ${cost}::float8 then ${refilled} - ${cost}::float8 else ${refilled} end,
          allowed = ${refilled} >= ${cost}::float8,
          updated_ms = greatest(b.updated_ms, ${now}::bigint)
        returning tokens, allowed`);
      // Buckets idle for a whole window are full: forgetting them changes nothing.
      if (now - purgedAt > 10 * windowMs) {
        purgedAt = now;
        await pool.query(sql.typeAlias('void')`
          delete from auth.rate_limit_buckets where updated_ms < ${now - 2 * windowMs}::bigint`);
      }
      const msPerToken = windowMs / limit;
      return {
        allowed,
        remaining: Math.floor(tokens),
        retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil(((cost - tokens) * msPerToken) / 1000)),
        limit,
        resetSeconds: Math.ceil(((limit - tokens) * msPerToken) / 1000),
      };
    },
  };
}
