/**
 * An in-memory token bucket per key: `limit` requests per `windowSeconds`, refilled smoothly,
 * so a client that spent its burst gets one request back every `windowSeconds / limit`
 * seconds rather than waiting for a window boundary (and cannot double up across one, as with
 * fixed windows).
 *
 * Per process: with N replicas the effective limit is N × limit. That is fine for slowing down
 * password guessing and for fair use; an exact global quota needs a shared store.
 */
export type RateLimiterOptions = {
  /** Requests allowed per window, unless `take` is given another; also the burst a fresh key may spend. */
  limit: number;
  windowSeconds: number;
  /** Epoch milliseconds. */
  clock?: () => number;
  /**
   * Keys tracked at most (100 000 by default), so a flood of distinct keys cannot exhaust
   * memory. Past it, idle keys go first, then the least recently seen ones, which start
   * afresh: under such a flood the limiter errs towards letting requests through.
   */
  maxKeys?: number;
};

export type RateLimitDecision = {
  allowed: boolean;
  /** Whole requests left in the bucket after this one. */
  remaining: number;
  /** 0 when allowed; otherwise how long until this request would be allowed, rounded up. */
  retryAfterSeconds: number;
  /** The limit that applied, for `RateLimit-Limit` style headers. */
  limit: number;
  /** Seconds until the bucket is full again (`RateLimit-Reset`). */
  resetSeconds: number;
};

export type TakeOptions = {
  /** What this request costs; 1 by default, at most the limit. */
  cost?: number;
  /** This key's own limit per window (a tenant's plan), instead of the limiter's. */
  limit?: number;
};

export type RateLimiter = {
  /** Spends from `key`'s bucket if it holds enough; a refused request spends nothing. */
  take(key: string, options?: TakeOptions): RateLimitDecision;
  /** Forgets `key`, e.g. clears failed sign-in attempts after a success. */
  reset(key: string): void;
  /** Keys currently tracked. */
  readonly size: number;
};

type Bucket = { tokens: number; updatedAt: number; limit: number };

export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const { windowSeconds, clock = Date.now, maxKeys = 100_000 } = options;
  if (!(options.limit > 0) || !(windowSeconds > 0)) {
    throw new Error('a rate limit needs a positive limit and window');
  }
  const windowMs = windowSeconds * 1000;
  const buckets = new Map<string, Bucket>();

  function refilled(bucket: Bucket, now: number): number {
    const elapsed = Math.max(0, now - bucket.updatedAt);
    return Math.min(bucket.limit, bucket.tokens + (elapsed * bucket.limit) / windowMs);
  }

  function makeRoom(now: number): void {
    // A full bucket is indistinguishable from a fresh one, so dropping it changes nothing.
    for (const [key, bucket] of buckets) {
      if (refilled(bucket, now) >= bucket.limit) buckets.delete(key);
    }
    // Map iteration order is insertion order and `take` re-inserts, so this is least recent
    // first. Freeing a tenth at once keeps a flood of new keys from paying a full sweep each.
    const target = Math.floor(maxKeys * 0.9);
    for (const key of buckets.keys()) {
      if (buckets.size <= target) break;
      buckets.delete(key);
    }
  }

  return {
    take(key, { cost = 1, limit = options.limit } = {}) {
      if (!(limit > 0)) throw new Error(`a rate limit is positive, not ${limit}`);
      if (!(cost > 0 && cost <= limit))
        throw new Error(`a request costs more than 0 and at most ${limit}, not ${cost}`);
      const now = clock();
      const existing = buckets.get(key);
      if (existing) buckets.delete(key);
      else if (buckets.size >= maxKeys) makeRoom(now);
      // A changed limit (a plan upgrade) applies from now on, without refunding or charging.
      const tokens = existing ? Math.min(limit, refilled(existing, now)) : limit;
      const allowed = tokens >= cost;
      const left = allowed ? tokens - cost : tokens;
      buckets.set(key, { tokens: left, updatedAt: now, limit });
      const msPerToken = windowMs / limit;
      return {
        allowed,
        remaining: Math.floor(left),
        retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil(((cost - tokens) * msPerToken) / 1000)),
        limit,
        resetSeconds: Math.ceil(((limit - left) * msPerToken) / 1000),
      };
    },
    reset(key) {
      buckets.delete(key);
    },
    get size() {
      return buckets.size;
    },
  };
}
