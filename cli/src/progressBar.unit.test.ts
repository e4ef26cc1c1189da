import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration, renderProgressLine } from './progressBar.ts';

describe('renderProgressLine', () => {
  it('shows the bar, counts, failures, bytes, rate and time left', () => {
    assert.equal(
      renderProgressLine({ done: 45, total: 120, failed: 2, bytes: 3 * 2 ** 20, elapsedMs: 10_000 }, 100),
      '[###########...................] 45/120   37%  2 failed  3.00 MiB  4.5/s  eta 17s',
    );
  });

  it('is full and has no eta at the end, and fits narrow terminals', () => {
    const line = renderProgressLine({ done: 3, total: 3, failed: 0, bytes: 10, elapsedMs: 1000 }, 100);
    assert.equal(line, '[##############################] 3/3  100%  10 B  3.0/s');
    assert.ok(
      renderProgressLine(
        { done: 1, total: 3, failed: 0, bytes: 10, elapsedMs: 1000, note: 'rate limited, retrying in 12s' },
        40,
      ).length <= 39,
    );
  });

  it('handles an empty import', () => {
    assert.match(
      renderProgressLine({ done: 0, total: 0, failed: 0, bytes: 0, elapsedMs: 0 }),
      /0\/0 {2}100%/,
    );
  });
});

describe('formatDuration', () => {
  it('reads naturally', () => {
    assert.deepEqual([850, 12_000, 185_000, 3_720_000].map(formatDuration), [
      '850ms',
      '12s',
      '3m05s',
      '1h02m',
    ]);
  });
});
