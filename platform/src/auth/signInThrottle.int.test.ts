import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { createDatabasePool } from '../database.ts';
import { LimitExceededError } from '../errors.ts';
import { runPlatformMigrations } from '../migrations.ts';
import { createTestDatabase } from '../testing/testDatabase.ts';
import { createSharedRateLimiter } from './sharedRateLimiter.ts';
import { createSignInThrottle } from './signInThrottle.ts';

/** Two pools on one database: what two API processes share. */
async function twoProcesses(t: TestContext) {
  const db = await createTestDatabase(t);
  await runPlatformMigrations(db.url);
  const other = await createDatabasePool({ DATABASE_URL: db.url, DATABASE_POOL_SIZE: 2 });
  t.after(() => other.end());
  let now = Date.UTC(2026, 0, 1);
  return { pools: [db.pool, other] as const, clock: () => now, advance: (ms: number) => (now += ms) };
}

async function outcome(attempt: Promise<void>): Promise<number> {
  try {
    await attempt;
    return 0;
  } catch (error) {
    assert.ok(error instanceof LimitExceededError, String(error));
    return error.detail?.['retryAfterSeconds'] as number;
  }
}

describe('sign-in throttle (PostgreSQL, shared by every write API)', () => {
  it('backs off exponentially per key, counting across processes, and never by account alone', async (t) => {
    const { pools, clock, advance } = await twoProcesses(t);
    const [a, b] = pools.map((pool) => createSignInThrottle(pool, { freeAttempts: 3, clock }));
    const pair = (address: string) => [`account:owner@x:address:${address}`, `address:${address}`];
    // Three attempts, alternating processes, go through; the third sets a 2 s wait.
    assert.equal(await outcome(a!.attempt(pair('1'))), 0);
    assert.equal(await outcome(b!.attempt(pair('1'))), 0);
    assert.equal(await outcome(a!.attempt(pair('1'))), 0);
    assert.equal(await outcome(b!.attempt(pair('1'))), 2, 'the other process sees the count');
    advance(2_000);
    assert.equal(await outcome(a!.attempt(pair('1'))), 0);
    assert.equal(await outcome(a!.attempt(pair('1'))), 4, 'doubled');
    advance(4_000);
    assert.equal(await outcome(b!.attempt(pair('1'))), 0);
    assert.equal(await outcome(b!.attempt(pair('1'))), 8, 'doubled again');
    // The owner, from an address of their own, is not held back by any of that.
    assert.equal(await outcome(a!.attempt(pair('2'))), 0);
    await a!.succeeded({ forget: [pair('2')[0]!], refund: [pair('2')[1]!] });
  });

  it('a success forgets its pair and refunds its address; concurrent guesses cannot share one count', async (t) => {
    const { pools, clock } = await twoProcesses(t);
    const [a, b] = pools.map((pool) => createSignInThrottle(pool, { freeAttempts: 5, clock }));
    const keys = ['account:a:address:9', 'address:9'];
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => outcome((i % 2 ? a! : b!).attempt(keys))),
    );
    assert.equal(results.filter((r) => r === 0).length, 5, results.join(','));
    const fresh = ['account:b:address:8', 'address:8'];
    for (let i = 0; i < 4; i++) assert.equal(await outcome(a!.attempt(fresh)), 0);
    await a!.succeeded({ forget: [fresh[0]!], refund: [fresh[1]!] });
    // The pair starts afresh; the address has 3 of its 5 spent, so 2 more go through.
    assert.equal(await outcome(a!.attempt(fresh)), 0);
    assert.equal(await outcome(a!.attempt(fresh)), 0);
    assert.ok((await outcome(a!.attempt(fresh))) > 0);
  });
});

describe('shared rate limiter (PostgreSQL token buckets)', () => {
  it('spends one bucket from two processes, with costs, and refills smoothly', async (t) => {
    const { pools, clock, advance } = await twoProcesses(t);
    const [a, b] = pools.map((pool) =>
      createSharedRateLimiter(pool, { limit: 60, windowSeconds: 60, clock }),
    );
    const allowed: boolean[] = [];
    for (let i = 0; i < 70; i++) allowed.push((await (i % 2 ? a! : b!).take('tenant:t1')).allowed);
    assert.equal(allowed.filter(Boolean).length, 60, 'one budget, not one per process');
    const refused = await a!.take('tenant:t1');
    assert.deepEqual(
      { allowed: refused.allowed, remaining: refused.remaining, retryAfter: refused.retryAfterSeconds },
      { allowed: false, remaining: 0, retryAfter: 1 },
    );
    advance(10_000);
    const dear = await b!.take('tenant:t1', { cost: 10 });
    assert.equal(dear.allowed, true, 'ten seconds refill ten units');
    assert.equal((await a!.take('tenant:t1', { cost: 10 })).retryAfterSeconds, 10);
    // A per-key limit (the tenant's plan) and another key's own bucket.
    assert.equal((await a!.take('tenant:t2', { limit: 5 })).remaining, 4);
    assert.equal((await a!.take('tenant:t2', { limit: 5 })).resetSeconds, 24);
    // What metering costs a request: one upsert.
    const takes = 200;
    const started = performance.now();
    for (let i = 0; i < takes; i++) await b!.take('tenant:t3', { limit: 100_000 });
    t.diagnostic(
      `shared take(): ${((performance.now() - started) / takes).toFixed(2)} ms mean over ${takes}`,
    );
  });
});
