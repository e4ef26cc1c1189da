import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { createPool, type Interceptor } from 'slonik';
import { resultParserInterceptor } from '../database.ts';
import { runPlatformMigrations } from '../migrations.ts';
import { createTestDatabase } from '../testing/testDatabase.ts';
import { createSharedRateLimiter, type SharedRateLimiterOptions } from './sharedRateLimiter.ts';

const windowMs = 60_000;

/**
 * `count` limiters, each with a pool of its own on one fresh database (what `count` API
 * processes share), on one clock the test moves; each pool counts the queries it runs.
 */
async function processes(t: TestContext, count: number, options: Partial<SharedRateLimiterOptions> = {}) {
  const db = await createTestDatabase(t);
  await runPlatformMigrations(db.url);
  let now = Date.UTC(2026, 0, 1);
  const clock = () => now;
  return {
    advance: (ms: number) => (now += ms),
    now: clock,
    limiters: await Promise.all(
      Array.from({ length: count }, async () => {
        const counter = { queries: 0 };
        const counting: Interceptor = {
          name: 'count-queries',
          beforeQueryExecution: () => {
            counter.queries++;
            return null;
          },
        };
        const pool = await createPool(db.url, {
          maximumPoolSize: 2,
          interceptors: [resultParserInterceptor, counting],
        });
        t.after(() => pool.end());
        const limiter = createSharedRateLimiter(pool, { limit: 60, windowSeconds: 60, clock, ...options });
        return Object.assign(limiter, { counter });
      }),
    ),
  };
}

/** The most units granted in any interval of the run, less what a token bucket allows in it. */
function worstExcess(grants: { at: number; units: number }[], limit: number): number {
  const times = [...new Set(grants.map((g) => g.at))].sort((a, b) => a - b);
  const unitsAt = new Map<number, number>();
  for (const g of grants) unitsAt.set(g.at, (unitsAt.get(g.at) ?? 0) + g.units);
  const before = [0]; // units granted before times[i]
  for (const time of times) before.push(before.at(-1)! + unitsAt.get(time)!);
  let worst = -Infinity;
  for (let i = 0; i < times.length; i++) {
    for (let j = i; j < times.length; j++) {
      const granted = before[j + 1]! - before[i]!;
      const allowed = limit + ((times[j]! - times[i]!) * limit) / windowMs;
      worst = Math.max(worst, granted - allowed);
    }
  }
  return worst;
}

describe('shared rate limiter: slices leased from the PostgreSQL bucket', () => {
  it('two processes together never grant more than the bucket plus their two slices, and get its rate', async (t) => {
    const limit = 600; // a plan's 600 units a minute: slices of 12
    const slice = 12;
    const { limiters, advance, now } = await processes(t, 2);
    const grants: { at: number; units: number }[] = [];
    // Two minutes in 100 ms steps. For the first 5 s each process is asked once in 5 steps, so
    // both hold slices while the bucket stays full; then 3 times a step: 3.6× the plan's rate.
    const steps = 1200;
    for (let step = 0; step < steps; step++) {
      const at = now();
      const asked = step < 50 ? (step % 5 === 0 ? [1] : []) : [1, 2, 3];
      const decisions = await Promise.all(
        limiters.flatMap((limiter) => asked.map(() => limiter.take('tenant:t', { limit }))),
      );
      for (const d of decisions) if (d.allowed) grants.push({ at, units: 1 });
      for (const d of decisions.filter((d) => !d.allowed)) assert.ok(d.retryAfterSeconds >= 1);
      advance(100);
    }
    const excess = worstExcess(grants, limit);
    t.diagnostic(`most granted in any interval beyond the bucket's own bound: ${excess.toFixed(1)} units`);
    assert.ok(excess <= 2 * slice, `${excess} units beyond the bucket, more than two slices`);
    // Together they get the plan: the full bucket plus two minutes of refill, less what they hold.
    const total = grants.length;
    const due = limit + ((steps * 100) / windowMs) * limit;
    assert.ok(total >= due - 2 * slice - 2, `granted ${total} of ${due}`);
    assert.ok(excess > 0, 'slices held while the bucket was full show in the burst');
    assert.ok(total <= due + 2 * slice, `granted ${total} of ${due}`);
  });

  it("one process grants its plan's rate, minute after minute", async (t) => {
    const limit = 300;
    const slice = 6;
    const { limiters, advance } = await processes(t, 1);
    const limiter = limiters[0]!;
    const perMinute: number[] = [];
    for (let minute = 0; minute < 3; minute++) {
      let granted = 0;
      for (let step = 0; step < 600; step++) {
        const decisions = await Promise.all([1, 2].map(() => limiter.take('tenant:one', { limit })));
        granted += decisions.filter((d) => d.allowed).length;
        advance(100);
      }
      perMinute.push(granted);
    }
    t.diagnostic(`granted per minute: ${perMinute.join(', ')} (plan ${limit}, a full bucket first)`);
    // The first minute spends the full bucket and a minute's refill; then a minute's refill each.
    assert.ok(Math.abs(perMinute[0]! - 2 * limit) <= slice + 1, `first minute ${perMinute[0]}`);
    for (const granted of perMinute.slice(1)) {
      assert.ok(Math.abs(granted - limit) <= slice + 1, `a later minute granted ${granted} of ${limit}`);
    }
  });

  it('runs no query per request once leased, and refuses without one while the bucket is empty', async (t) => {
    const { limiters, advance } = await processes(t, 1);
    const limiter = limiters[0]!;
    const { counter } = limiter;
    // 6 000 units a minute (an enterprise plan): slices of 120, the next leased below 60 left.
    assert.equal((await limiter.take('tenant:big', { limit: 6000 })).allowed, true);
    const afterFirst = counter.queries;
    assert.ok(afterFirst >= 1, 'the first request leases');
    for (let i = 0; i < 50; i++)
      assert.equal((await limiter.take('tenant:big', { limit: 6000 })).allowed, true);
    assert.equal(counter.queries, afterFirst, 'no query for the next 50 requests');
    const takes = 2000;
    const started = performance.now();
    for (let i = 0; i < takes; i++) {
      const decision = await limiter.take('tenant:big', { limit: 6000, cost: 2 });
      assert.equal(decision.allowed, true);
    }
    const mean = (performance.now() - started) / takes;
    const queries = counter.queries - afterFirst;
    t.diagnostic(`${takes} requests: ${queries} queries, ${mean.toFixed(3)} ms a take on average`);
    // A lease (one query) per some 60 units spent, not one per request.
    assert.ok(queries <= takes / 25, `${queries} queries for ${takes} requests`);

    // A small plan spends its bucket, then is refused from memory, Retry-After and all.
    for (let i = 0; i < 30; i++)
      assert.equal((await limiter.take('tenant:small', { cost: 2 })).allowed, true);
    const beforeRefusals = counter.queries;
    for (let i = 0; i < 100; i++) {
      const refused = await limiter.take('tenant:small', { cost: 2 });
      assert.deepEqual(
        { allowed: refused.allowed, remaining: refused.remaining, retryAfter: refused.retryAfterSeconds },
        { allowed: false, remaining: 0, retryAfter: 2 },
      );
    }
    assert.ok(counter.queries - beforeRefusals <= 1, 'refusals from memory');
    advance(2_000);
    assert.equal(
      (await limiter.take('tenant:small', { cost: 2 })).allowed,
      true,
      'two seconds refill two units',
    );
  });

  it('a slice unspent when its lease expires goes back to the bucket, not to its process', async (t) => {
    // Slices of half the limit, to see them; leases last 5 s (a twelfth of the minute).
    const { limiters, advance } = await processes(t, 2, { limit: 100, leaseFraction: 0.5 });
    const [a, b] = limiters;
    assert.equal((await a!.take('tenant:t')).allowed, true); // a holds 49; the bucket 50
    assert.equal((await b!.take('tenant:t', { cost: 50 })).allowed, true); // the bucket is empty
    assert.equal((await b!.take('tenant:t')).allowed, false, 'what a holds is not b’s');
    advance(6_000); // 10 units refilled; a's slice expired
    assert.equal((await a!.take('tenant:t')).allowed, true); // gives its 49 back, leases 50 of 59
    const rest = await b!.take('tenant:t', { cost: 9 });
    assert.equal(rest.allowed, true, `the 49 came back (${JSON.stringify(rest)})`);
    assert.equal((await b!.take('tenant:t')).allowed, false);
    // a spends its new slice and no more: 110 units granted in all, the bucket and its refill.
    let spent = 0;
    while ((await a!.take('tenant:t')).allowed) spent++;
    assert.equal(spent, 49);
  });
});
