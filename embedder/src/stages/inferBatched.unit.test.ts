import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { embeddingBatchSize } from '@deeplens/platform/metrics';
import { createInferStage } from './inferBatched.ts';

/** A "model" that answers each input's first byte as its vector, and notes its batches. */
function firstByteModel() {
  const batches: number[] = [];
  return {
    batches,
    embed: (pixels: Buffer[]) => {
      batches.push(pixels.length);
      return Promise.resolve(pixels.map((p) => Float32Array.of(p[0]!)));
    },
  };
}

const observedBatches = async () =>
  (await embeddingBatchSize.get()).values.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;

describe('infer stage', () => {
  it('runs the images of independent callers in shared batches, each getting its own vector, and measures the batches', async () => {
    const model = firstByteModel();
    const infer = createInferStage({ embed: model.embed, batchSize: 4, batchWindowMs: 20 });
    const before = await observedBatches();
    const results = await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        const seat = await infer.reserve();
        return seat.embed(Buffer.from([i]));
      }),
    );
    assert.deepEqual(
      results.map((r) => r.output[0]),
      [0, 1, 2, 3, 4, 5],
    );
    assert.deepEqual(model.batches, [4, 2]);
    assert.deepEqual(
      results.map((r) => r.batchSize),
      [4, 4, 4, 4, 2, 2],
    );
    assert.equal((await observedBatches()) - before, 2);
  });

  it('lets a batch go without the images whose seats were given up (failed before inference)', async () => {
    const model = firstByteModel();
    const infer = createInferStage({ embed: model.embed, batchSize: 4, batchWindowMs: 10_000 });
    const seats = await Promise.all([infer.reserve(), infer.reserve(), infer.reserve()]);
    const embedded = seats.slice(0, 2).map((seat, i) => seat.embed(Buffer.from([i])));
    seats[2].release();
    // Every seated image arrived or left: the batch of two runs without waiting 10 s.
    const results = await Promise.all(embedded);
    assert.deepEqual(model.batches, [2]);
    assert.deepEqual(
      results.map((r) => r.batchSize),
      [2, 2],
    );
  });
});
