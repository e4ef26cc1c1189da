import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createInferenceBatcher } from './inferenceBatcher.ts';

/** A batcher over a "model" that doubles numbers and remembers the batches it ran. */
function doubling(maxBatchSize: number, maxSeats = 4 * maxBatchSize, maxWaitMs = 1000) {
  const batches: number[][] = [];
  const batcher = createInferenceBatcher<number, number>({
    maxBatchSize,
    maxSeats,
    maxWaitMs,
    run: async (inputs) => {
      batches.push(inputs);
      await sleep(5);
      return inputs.map((x) => 2 * x);
    },
  });
  return { batcher, batches };
}

describe('createInferenceBatcher', () => {
  it('fills batches with the inputs of independent callers, in arrival order', async () => {
    const { batcher, batches } = doubling(4);
    const seats = await Promise.all(Array.from({ length: 10 }, () => batcher.reserve()));
    const results = await Promise.all(seats.map((seat, i) => seat.embed(i)));
    assert.deepEqual(
      results.map((r) => r.output),
      Array.from({ length: 10 }, (_, i) => 2 * i),
    );
    assert.deepEqual(batches, [
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9],
    ]);
    assert.deepEqual(
      results.map((r) => r.batchSize),
      [4, 4, 4, 4, 4, 4, 4, 4, 2, 2],
    );
  });

  it('waits for inputs still being prepared, and runs once every seat has arrived or left', async () => {
    const { batcher, batches } = doubling(8);
    const [a, b, c] = await Promise.all([batcher.reserve(), batcher.reserve(), batcher.reserve()]);
    const first = a.embed(1);
    await sleep(20);
    assert.deepEqual(batches, [], 'two seats are still preparing');
    const second = b.embed(2);
    c.release();
    assert.deepEqual([(await first).output, (await second).output], [2, 4]);
    assert.deepEqual(batches, [[1, 2]]);
  });

  it('lets a partial batch go when no input arrived for maxWaitMs', async () => {
    const { batcher, batches } = doubling(8, 32, 30);
    const [fast, slow] = await Promise.all([batcher.reserve(), batcher.reserve()]);
    const started = performance.now();
    assert.equal((await fast.embed(5)).output, 10);
    assert.ok(performance.now() - started >= 25);
    assert.deepEqual(batches, [[5]]);
    slow.release();
  });

  it('hands out at most maxSeats seats until inputs go into a batch', async () => {
    const { batcher } = doubling(2, 2);
    const [a, b] = await Promise.all([batcher.reserve(), batcher.reserve()]);
    let third = false;
    const next = batcher.reserve().then((seat) => {
      third = true;
      return seat;
    });
    await sleep(10);
    assert.equal(third, false, 'no seat is free');
    await Promise.all([a.embed(1), b.embed(2)]);
    const seat = await next;
    assert.equal(third, true);
    assert.equal((await seat.embed(3)).output, 6);
  });

  it('rejects every input of a batch whose run fails, and carries on with the next', async () => {
    let calls = 0;
    const batcher = createInferenceBatcher<number, number>({
      maxBatchSize: 2,
      maxSeats: 4,
      maxWaitMs: 1000,
      run: async (inputs) => {
        if (calls++ === 0) throw new Error('model failed');
        return inputs;
      },
    });
    const seats = await Promise.all([1, 2, 3].map(() => batcher.reserve()));
    const [one, two, three] = seats.map((seat, i) => seat.embed(i));
    await assert.rejects(one!, /model failed/);
    await assert.rejects(two!, /model failed/);
    assert.equal((await three!).output, 2);
  });
});
