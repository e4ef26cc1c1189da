import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gemPool, l2Normalize } from './pooling.ts';

describe('gemPool', () => {
  // Two images × two channels × three positions, NCHW.
  const map = Float32Array.from([1, 2, 3, 0, 0, 6, 4, 4, 4, 1, 1, 1]);

  it('is the average for p = 1 and tends to the maximum as p grows', () => {
    assert.deepEqual(
      [...gemPool(map, 0, 2, 3, 1)].map((v) => +v.toFixed(5)),
      [2, 2],
    );
    const large = gemPool(map, 0, 2, 3, 60);
    assert.ok(Math.abs(large[0]! - 3) < 0.1 && Math.abs(large[1]! - 6) < 0.2);
  });

  it('computes (mean of x^3)^(1/3) per channel of the image at the offset', () => {
    const pooled = gemPool(map, 6, 2, 3);
    assert.ok(Math.abs(pooled[0]! - 4) < 1e-5);
    assert.ok(Math.abs(pooled[1]! - 1) < 1e-5);
  });
});

describe('l2Normalize', () => {
  it('scales to unit length and leaves a zero vector alone', () => {
    assert.deepEqual([...l2Normalize(Float32Array.from([3, 4]))], [0.6000000238418579, 0.800000011920929]);
    assert.deepEqual([...l2Normalize(new Float32Array(3))], [0, 0, 0]);
  });
});
