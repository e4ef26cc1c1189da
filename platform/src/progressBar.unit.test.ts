import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { metricsRegistry } from './metrics.ts';
import { createProgressBar, progressFigures, renderProgressLine } from './progressBar.ts';
import { progressMetrics } from './progressMetrics.ts';

describe('progressFigures', () => {
  it('derives the fraction, the rate and the time left', () => {
    assert.deepEqual(progressFigures({ done: 250, total: 1000, elapsedMs: 5_000 }), {
      fraction: 0.25,
      perSecond: 50,
      etaSeconds: 15,
    });
  });

  it('is complete with nothing to do, and has no ETA before anything is done', () => {
    assert.deepEqual(progressFigures({ done: 0, total: 0, elapsedMs: 0 }), {
      fraction: 1,
      perSecond: 0,
      etaSeconds: 0,
    });
    assert.equal(progressFigures({ done: 0, total: 10, elapsedMs: 3_000 }).etaSeconds, undefined);
    // More done than the total seen at the start (the log grew): capped, never negative.
    const over = progressFigures({ done: 12, total: 10, elapsedMs: 1_000 });
    assert.equal(over.fraction, 1);
    assert.equal(over.etaSeconds, 0);
  });

  it('renders the same figures, bytes with the formatter given', () => {
    assert.equal(
      renderProgressLine({ done: 250, total: 1000, failed: 0, elapsedMs: 5_000 }, 100),
      '[########......................] 250/1000   25%  50.0/s  eta 15s',
    );
    assert.match(
      renderProgressLine(
        { done: 1, total: 2, failed: 0, bytes: 2048, elapsedMs: 1_000 },
        100,
        (b) => `${b / 1024} KiB`,
      ),
      / 2 KiB /,
    );
  });
});

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, columns: 100, write: (text: string) => writes.push(text) > 0 } };
}

describe('createProgressBar', () => {
  it('elsewhere than a terminal prints a plain line every 10 % and every plainEveryMs', () => {
    let now = 0;
    const { writes, stream } = fakeStream(false);
    const bar = createProgressBar(stream, 'rebuilding', { plainEveryMs: 5_000, now: () => now });
    const at = (done: number, ms: number) => {
      now = ms;
      bar.update({ done, total: 1000, failed: 0, elapsedMs: ms });
    };
    at(0, 0); // first line
    at(10, 1_000); // same decile, 1 s later: nothing
    at(20, 5_000); // same decile, 5 s after the last line: printed
    at(30, 6_000); // nothing
    at(150, 7_000); // a new decile: printed
    at(160, 8_000); // nothing; finish prints it as the last state was not shown
    bar.finish();
    assert.deepEqual(
      writes.map(
        (w) =>
          w
            .replace(/ \[.*?\]/, '')
            .trim()
            .split('  ')[0],
      ),
      ['rebuilding 0/1000', 'rebuilding 20/1000', 'rebuilding 150/1000', 'rebuilding 160/1000'],
    );
    assert.ok(writes.every((w) => w.endsWith('\n') && !w.includes('\r')));
  });

  it('on a terminal redraws in place, at most ten times a second', () => {
    let now = 1_000;
    const { writes, stream } = fakeStream(true);
    const bar = createProgressBar(stream, 'recovering', { now: () => now });
    bar.update({ done: 1, total: 10, failed: 0, elapsedMs: 10 });
    now += 50;
    bar.update({ done: 2, total: 10, failed: 0, elapsedMs: 60 });
    now += 100;
    bar.update({ done: 3, total: 10, failed: 0, elapsedMs: 160 });
    bar.finish();
    assert.equal(writes.filter((w) => w.startsWith('\r')).length, 3, 'two draws and the final one');
    assert.equal(writes.at(-1), '\n');
  });
});

describe('progressMetrics', () => {
  it('publishes done, total, rate and ETA as gauges', async () => {
    const publish = progressMetrics({
      name: 'deeplens_test_progress',
      what: 'A test',
      labelNames: ['projection'] as const,
    });
    publish({ done: 300, total: 1200, elapsedMs: 10_000 }, { projection: 'metadata' });
    const text = await metricsRegistry.getSingleMetricAsString('deeplens_test_progress_records');
    assert.match(text, /deeplens_test_progress_records\{projection="metadata",state="done"\} 300/);
    assert.match(text, /deeplens_test_progress_records\{projection="metadata",state="total"\} 1200/);
    assert.match(
      await metricsRegistry.getSingleMetricAsString('deeplens_test_progress_records_per_second'),
      /\{projection="metadata"\} 30$/m,
    );
    assert.match(
      await metricsRegistry.getSingleMetricAsString('deeplens_test_progress_eta_seconds'),
      /\{projection="metadata"\} 30$/m,
    );
  });
});
