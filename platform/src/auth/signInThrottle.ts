import { z } from 'zod';
import { sql, type DatabasePool } from '../database.ts';
import { LimitExceededError } from '../errors.ts';

/**
 * Sign-in throttling with exponential backoff, kept in PostgreSQL (`auth.sign_in_throttle`,
 * migration `platform/migrations/001_request_limits.sql`) so every write API process
 * keeps one count.
 *
 * The caller names the keys an attempt counts under: the (account, address) pair and the
 * address. Never the account alone, so guesses from elsewhere cannot lock the owner out: they
 * spend their own addresses' budgets, not the owner's. Under each key the first
 * `freeAttempts` go through at once; from then on each attempt sets a wait of
 * `baseDelaySeconds × 2^(attempts − freeAttempts)` (at most `maxDelaySeconds`) before the next.
 *
 * An attempt is counted before the password is checked (two concurrent guesses cannot both
 * slip in under one count); a success then forgets its pair and gives its address the
 * attempt back.
 */
export type SignInThrottleOptions = {
  /** Attempts under one key before backoff starts. */
  freeAttempts: number;
  /** The first wait, seconds; doubled by every further attempt. 2 by default. */
  baseDelaySeconds?: number;
  /** The longest wait, seconds. 15 minutes by default. */
  maxDelaySeconds?: number;
  /** A key left alone this long (and not waiting) starts afresh, seconds. 15 minutes by default. */
  forgetAfterSeconds?: number;
  /** Epoch milliseconds. */
  clock?: () => number;
};

export type SignInThrottle = {
  /**
   * Counts one attempt under every key, or, when any key is still waiting, counts nothing and
   * throws `LimitExceededError` (429) with `retryAfterSeconds`.
   */
  attempt(keys: string[]): Promise<void>;
  /** After a successful sign-in: `forget` keys start afresh, `refund` keys get the attempt back. */
  succeeded(outcome: { forget: string[]; refund: string[] }): Promise<void>;
};

const throttleRow = z.object({
  key: z.string(),
  failures: z.number(),
  last_attempt_ms: z.number(),
  blocked_until_ms: z.number().nullable(),
});

export function createSignInThrottle(pool: DatabasePool, options: SignInThrottleOptions): SignInThrottle {
  const {
    freeAttempts,
    baseDelaySeconds = 2,
    maxDelaySeconds = 15 * 60,
    forgetAfterSeconds = 15 * 60,
    clock = Date.now,
  } = options;
  if (!(freeAttempts >= 1)) throw new Error('a sign-in throttle lets at least one attempt through');
  let attemptsSincePurge = 0;

  /** The wait set after the `count`th attempt, milliseconds (0: none). */
  const delayAfter = (count: number) =>
    count < freeAttempts
      ? 0
      : Math.min(maxDelaySeconds, baseDelaySeconds * 2 ** Math.min(count - freeAttempts, 30)) * 1000;

  async function purgeNow(now: number): Promise<void> {
    await pool.query(sql.typeAlias('void')`
      delete from auth.sign_in_throttle
      where last_attempt_ms < ${now - forgetAfterSeconds * 1000}
        and (blocked_until_ms is null or blocked_until_ms < ${now})`);
  }

  return {
    async attempt(keys) {
      const now = clock();
      const sorted = [...new Set(keys)].sort();
      const waitMs = await pool.transaction(async (tx) => {
        // Rows are created, then locked, in key order: concurrent attempts queue, never deadlock.
        await tx.query(sql.typeAlias('void')`
          insert into auth.sign_in_throttle (key, failures, last_attempt_ms)
          select k, 0, ${now} from unnest(${sql.array(sorted, 'text')}) as k order by k
          on conflict (key) do nothing`);
        const rows = await tx.many(sql.type(throttleRow)`
          select key, failures, last_attempt_ms, blocked_until_ms from auth.sign_in_throttle
          where key = any(${sql.array(sorted, 'text')}) order by key for update`);
        const wait = Math.max(0, ...rows.map((r) => (r.blocked_until_ms ?? 0) - now));
        if (wait > 0) return wait;
        for (const row of rows) {
          const stale = now - row.last_attempt_ms > forgetAfterSeconds * 1000;
          const count = (stale ? 0 : row.failures) + 1;
          const delay = delayAfter(count);
          await tx.query(sql.typeAlias('void')`
            update auth.sign_in_throttle
            set failures = ${count}, last_attempt_ms = ${now},
              blocked_until_ms = ${delay > 0 ? now + delay : null}::bigint
            where key = ${row.key}`);
        }
        return 0;
      });
      if (++attemptsSincePurge >= 1000) {
        attemptsSincePurge = 0;
        await purgeNow(now);
      }
      if (waitMs > 0) {
        const retryAfterSeconds = Math.max(1, Math.ceil(waitMs / 1000));
        throw new LimitExceededError(`too many sign-in attempts; retry in ${retryAfterSeconds} s`, {
          detail: { retryAfterSeconds },
        });
      }
    },

    async succeeded({ forget, refund }) {
      if (forget.length > 0) {
        await pool.query(sql.typeAlias('void')`
          delete from auth.sign_in_throttle where key = any(${sql.array(forget, 'text')})`);
      }
      if (refund.length > 0) {
        // The wait this attempt set is lifted when, without it, the key is back under its budget.
        await pool.query(sql.typeAlias('void')`
          update auth.sign_in_throttle
          set failures = greatest(failures - 1, 0),
            blocked_until_ms = case when failures - 1 >= ${freeAttempts} then blocked_until_ms end
          where key = any(${sql.array(refund, 'text')})`);
      }
    },
  };
}
