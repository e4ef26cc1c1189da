import { z } from 'zod';
import { sql, type DatabasePool } from '../database.ts';
import type { RateLimitDecision, TakeOptions } from './rateLimiter.ts';

/**
 * A token bucket per key kept in PostgreSQL (`auth.rate_limit_buckets`, migration
 * `platform/migrations/001_request_limits.sql`), so every process of an API spends from one
 * bucket: with N replicas a tenant still gets its plan's rate, not N times it.
 *
 * Same refill rule as `createRateLimiter`: `limit` per `windowSeconds`, smoothly; a refused
 * request spends nothing.
 *
 * A process does not ask PostgreSQL per request: it leases a slice of the key's bucket (one
 * upsert takes `leaseFraction` of the limit, at least the request's cost), spends it in memory,
 * and leases the next slice in the background once half of it is spent, so a busy key costs one
 * round trip per slice and none on a request's path. A slice is spent within `leaseMs` or given
 * back to the bucket with the process's next lease of that key. What a process holds is out of
 * the bucket, which meanwhile refills up to its limit: the worst case over the shared bucket
 * alone is one slice per process, i.e. N × `ceil(limit × leaseFraction)` units more than a
 * single bucket would let through in a burst (3 % of the plan with N = 1 and the default 1/50,
 * plus one more slice per replica). A refused request answers without a query while this
 * process's last sight of the bucket, refilled since, shows too little.
 */
export type SharedRateLimiterOptions = {
  /** Requests per window unless `take` names another limit. */
  limit: number;
  windowSeconds: number;
  /** Epoch milliseconds. */
  clock?: () => number;
  /** The share of a key's limit one lease takes from the bucket; 1/50 by default. */
  leaseFraction?: number;
  /** How long a leased slice may be spent, ms; a twelfth of the window (5 s of 60) by default. */
  leaseMs?: number;
};

export type SharedRateLimiter = {
  take(key: string, options?: TakeOptions): Promise<RateLimitDecision>;
};

/** What this process holds of one key's bucket. */
type Lease = {
  limit: number;
  /** Leased from the bucket and not spent yet. */
  tokens: number;
  expiresAt: number;
  /** The bucket's tokens after this process's last lease, and when. */
  bucketTokens: number;
  seenAt: number;
  /** A lease under way for this key (one at a time). */
  pending?: Promise<void>;
};

const leaseRow = z.object({ tokens: z.number(), available: z.number() });
const freshRow = z.object({ tokens: z.number() });

export function createSharedRateLimiter(
  pool: DatabasePool,
  options: SharedRateLimiterOptions,
): SharedRateLimiter {
  const { windowSeconds, clock = Date.now } = options;
  if (!(options.limit > 0) || !(windowSeconds > 0)) {
    throw new Error('a rate limit needs a positive limit and window');
  }
  const leaseFraction = options.leaseFraction ?? 1 / 50;
  if (!(leaseFraction > 0 && leaseFraction <= 1)) {
    throw new Error(`a lease is a share of the limit in (0, 1], not ${leaseFraction}`);
  }
  const windowMs = windowSeconds * 1000;
  const leaseMs = options.leaseMs ?? windowMs / 12;
  const leases = new Map<string, Lease>();
  let purgedAt = 0;

  const sliceOf = (limit: number) => Math.max(1, Math.ceil(limit * leaseFraction));
  const usable = (lease: Lease, limit: number, now: number): boolean =>
    lease.limit === limit && now < lease.expiresAt;
  /** The bucket as this process last saw it, refilled since: at least what it holds now. */
  const bucketEstimate = (lease: Lease, now: number) =>
    Math.min(lease.limit, lease.bucketTokens + (Math.max(0, now - lease.seenAt) * lease.limit) / windowMs);

  /**
   * One upsert: gives back `returned` (a slice no longer usable), refills, and when the bucket
   * holds at least `need` takes up to `want` of it. Answers what was granted (0 if refused) and
   * what the bucket holds after.
   */
  async function leaseFromBucket(
    key: string,
    limit: number,
    need: number,
    want: number,
    returned: number,
    now: number,
  ): Promise<{ granted: number; bucketTokens: number }> {
    if (now - purgedAt > 10 * windowMs) {
      purgedAt = now;
      // Buckets idle for two windows are full: forgetting them changes nothing.
      await pool.query(sql.typeAlias('void')`
        delete from auth.rate_limit_buckets where updated_ms < ${now - 2 * windowMs}::bigint`);
    }
    // The row is locked by the subquery, so `available` is the version the update changes.
    const update = () =>
      pool.maybeOne(sql.type(leaseRow)`
        update auth.rate_limit_buckets as b set
          tokens = case when cur.available >= ${need}::float8
            then cur.available - least(cur.available, ${want}::float8) else cur.available end,
          allowed = cur.available >= ${need}::float8,
          updated_ms = greatest(b.updated_ms, ${now}::bigint)
        from (
          select key, least(${limit}::float8, tokens + ${returned}::float8
            + greatest(0, ${now}::bigint - updated_ms) * ${limit}::float8 / ${windowMs}::float8) as available
          from auth.rate_limit_buckets where key = ${key} for update
        ) as cur
        where b.key = cur.key
        returning b.tokens, cur.available`);
    let row = await update();
    if (!row) {
      // A new (or purged) bucket starts full; `need` is at most the limit.
      const granted = Math.min(limit, want);
      const fresh = await pool.maybeOne(sql.type(freshRow)`
        insert into auth.rate_limit_buckets (key, tokens, updated_ms, allowed)
        values (${key}, ${limit - granted}::float8, ${now}::bigint, true)
        on conflict (key) do nothing
        returning tokens`);
      if (fresh) return { granted, bucketTokens: fresh.tokens };
      row = await update(); // another process created it meanwhile
      if (!row) throw new Error(`the rate-limit bucket ${key} vanished while being leased`);
    }
    const granted = row.available >= need ? row.available - row.tokens : 0;
    return { granted, bucketTokens: row.tokens };
  }

  /**
   * Leases for `key` and adds the grant to what this process holds, which lasts `leaseMs` from
   * now; a slice no longer usable (expired, or for another limit) goes back with it. One lease
   * at a time per key.
   */
  function lease(key: string, limit: number, need: number, want: number): Promise<void> {
    const now = clock();
    let entry = leases.get(key);
    if (!entry) {
      entry = { limit, tokens: 0, expiresAt: 0, bucketTokens: limit, seenAt: now };
      leases.set(key, entry);
    }
    const returned = usable(entry, limit, now) ? 0 : entry.tokens;
    if (returned > 0 || entry.limit !== limit) Object.assign(entry, { tokens: 0, limit });
    const held = entry;
    const pending: Promise<void> = leaseFromBucket(key, limit, need, want, returned, now)
      .then(({ granted, bucketTokens }) => {
        held.tokens += granted;
        if (granted > 0) held.expiresAt = now + leaseMs;
        held.bucketTokens = bucketTokens;
        held.seenAt = now;
      })
      .finally(() => {
        if (held.pending === pending) delete held.pending;
      });
    held.pending = pending;
    if (leases.size > 10_000) forgetExpired(now);
    return pending;
  }

  function forgetExpired(now: number): void {
    for (const [key, held] of leases) {
      if (now >= held.expiresAt && !held.pending) leases.delete(key);
    }
  }

  function decision(allowed: boolean, limit: number, tokens: number, cost: number): RateLimitDecision {
    const msPerToken = windowMs / limit;
    return {
      allowed,
      remaining: Math.floor(tokens),
      retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil(((cost - tokens) * msPerToken) / 1000)),
      limit,
      resetSeconds: Math.ceil(((limit - tokens) * msPerToken) / 1000),
    };
  }

  return {
    async take(key, { cost = 1, limit = options.limit } = {}) {
      if (!(limit > 0)) throw new Error(`a rate limit is positive, not ${limit}`);
      if (!(cost > 0 && cost <= limit))
        throw new Error(`a request costs more than 0 and at most ${limit}, not ${cost}`);
      const slice = sliceOf(limit);
      for (;;) {
        const now = clock();
        const held = leases.get(key);
        if (held && usable(held, limit, now) && held.tokens >= cost) {
          held.tokens -= cost;
          // The next slice before this one runs out, off the request's path. A failed one
          // (PostgreSQL unreachable) leaves the next request to lease, and report, itself.
          if (held.tokens < slice / 2 && !held.pending) {
            lease(key, limit, Number.MIN_VALUE, slice - held.tokens).catch(() => undefined);
          }
          return decision(true, limit, Math.min(limit, bucketEstimate(held, now) + held.tokens), cost);
        }
        if (held?.pending) {
          await held.pending.catch(() => undefined);
          continue;
        }
        if (held && held.limit === limit) {
          // Refused without a query while the bucket as last seen, refilled since, plus what this
          // process holds (or gives back) is too little; right after a refused lease, always so.
          const estimate = Math.min(limit, bucketEstimate(held, now) + held.tokens);
          if (estimate < cost) return decision(false, limit, estimate, cost);
        }
        const have = held && usable(held, limit, now) ? held.tokens : 0;
        await lease(key, limit, cost - have, Math.max(cost - have, slice));
      }
    },
  };
}
