import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRateLimiter } from './rateLimiter.ts';

function fakeClock(start = 1_700_000_000_000) {
  let now = start;
  return { clock: () => now, advance: (ms: number) => (now += ms) };
}

describe('createRateLimiter', () => {
  it('allows a burst of `limit`, then refuses with the time until the next request', () => {
    const time = fakeClock();
    const limiter = createRateLimiter({ limit: 5, windowSeconds: 60, clock: time.clock });
    for (let i = 4; i >= 0; i--) {
      assert.deepEqual(limiter.take('ip:1'), {
        allowed: true,
        remaining: i,
        retryAfterSeconds: 0,
        limit: 5,
        // Full again after one refill period per token spent.
        resetSeconds: (5 - i) * 12,
      });
    }
    // One request comes back every 60 / 5 = 12 s.
    assert.deepEqual(limiter.take('ip:1'), {
      allowed: false,
      remaining: 0,
      retryAfterSeconds: 12,
      limit: 5,
      resetSeconds: 60,
    });
    time.advance(5_000);
    assert.equal(limiter.take('ip:1').retryAfterSeconds, 7);
  });

  it('refills smoothly, never beyond the limit', () => {
    const time = fakeClock();
    const limiter = createRateLimiter({ limit: 5, windowSeconds: 60, clock: time.clock });
    for (let i = 0; i < 5; i++) limiter.take('k');
    time.advance(12_000);
    assert.equal(limiter.take('k').allowed, true);
    assert.equal(limiter.take('k').allowed, false);
    time.advance(3_600_000);
    for (let i = 0; i < 5; i++) assert.equal(limiter.take('k').allowed, true);
    assert.equal(limiter.take('k').allowed, false);
  });

  it('keeps keys apart and forgets one on reset', () => {
    const time = fakeClock();
    const limiter = createRateLimiter({ limit: 1, windowSeconds: 60, clock: time.clock });
    assert.equal(limiter.take('token-endpoint:ada@example.com').allowed, true);
    assert.equal(limiter.take('token-endpoint:ada@example.com').allowed, false);
    assert.equal(limiter.take('token-endpoint:bob@example.com').allowed, true);
    limiter.reset('token-endpoint:ada@example.com');
    assert.equal(limiter.take('token-endpoint:ada@example.com').allowed, true);
  });

  it('does not charge refused requests', () => {
    const time = fakeClock();
    const limiter = createRateLimiter({ limit: 2, windowSeconds: 10, clock: time.clock });
    limiter.take('k');
    limiter.take('k');
    for (let i = 0; i < 100; i++) assert.equal(limiter.take('k').allowed, false);
    time.advance(5_000);
    assert.equal(limiter.take('k').allowed, true);
  });

  it('honours a per-key limit and a cost', () => {
    const time = fakeClock();
    const limiter = createRateLimiter({ limit: 2, windowSeconds: 60, clock: time.clock });
    for (let i = 0; i < 10; i++) assert.equal(limiter.take('tenant:pro', { limit: 10 }).allowed, true);
    assert.deepEqual(limiter.take('tenant:pro', { limit: 10 }), {
      allowed: false,
      remaining: 0,
      retryAfterSeconds: 6,
      limit: 10,
      resetSeconds: 60,
    });
    assert.equal(limiter.take('tenant:free', { cost: 2 }).allowed, true);
    assert.equal(limiter.take('tenant:free').allowed, false);
    assert.throws(() => limiter.take('k', { cost: 3 }), /at most 2/);
    assert.throws(() => limiter.take('k', { cost: 0 }));
  });

  it('bounds memory: idle keys go first, then the least recently seen', () => {
    const time = fakeClock();
    const limiter = createRateLimiter({ limit: 1, windowSeconds: 60, clock: time.clock, maxKeys: 10 });
    for (let i = 0; i < 10; i++) limiter.take(`old:${i}`);
    time.advance(60_000); // every old bucket is full again, i.e. forgettable
    limiter.take('busy');
    assert.equal(limiter.size, 1);

    for (let i = 0; i < 9; i++) limiter.take(`new:${i}`);
    limiter.take('busy'); // refused, and now the most recently seen
    assert.equal(limiter.size, 10);
    limiter.take('another');
    assert.ok(limiter.size <= 10);
    assert.equal(limiter.take('busy').allowed, false, 'a recently seen key keeps its bucket');
  });

  it('refuses a nonsensical configuration', () => {
    assert.throws(() => createRateLimiter({ limit: 0, windowSeconds: 60 }));
    assert.throws(() => createRateLimiter({ limit: 5, windowSeconds: 0 }));
  });
});
