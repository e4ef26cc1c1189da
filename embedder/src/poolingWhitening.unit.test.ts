import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  applyWhitening,
  decodeWhitening,
  encodeWhitening,
  featureMapRegions,
  fitWhitening,
  pcaBasis,
} from './poolingWhitening.ts';

/** A deterministic pseudo-random stream in [−1, 1). */
function stream(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 0x80000000 - 1;
  };
}

describe('featureMapRegions', () => {
  it('covers a 7 × 7 map with the whole map and 22 square windows inside it', () => {
    const regions = featureMapRegions(7, 7);
    assert.equal(regions.length, 23);
    assert.deepEqual(regions[0], { x: 0, y: 0, w: 7, h: 7 });
    for (const r of regions) {
      assert.ok(r.x >= 0 && r.y >= 0 && r.x + r.w <= 7 && r.y + r.h <= 7, JSON.stringify(r));
      assert.equal(r.w, r.h);
    }
    // Every corner cell lies in some window smaller than the map.
    for (const [x, y] of [
      [0, 0],
      [6, 0],
      [0, 6],
      [6, 6],
    ] as const)
      assert.ok(regions.slice(1).some((r) => x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h));
  });
});

describe('fitWhitening', () => {
  const dim = 6;
  const next = stream(7);
  // Correlated data: channel scales differ by 100×, channels 0 and 1 move together.
  const samples = Array.from({ length: 400 }, () => {
    const a = next();
    const x = Float64Array.from({ length: dim }, (_, i) => next() * (i + 1) * 10);
    x[1] = x[1]! + a * 50;
    x[0] = x[0]! + a * 50;
    return x;
  });

  it('PCA-whitening decorrelates the corpus and gives every kept direction unit variance', () => {
    const w = fitWhitening(pcaBasis(samples, dim), { outputDim: 4, shrinkage: 0 });
    assert.equal(w.outputDim, 4);
    // Without the final normalisation: P (x − mean).
    const projected = samples.map((x) =>
      Array.from({ length: 4 }, (_, r) =>
        Array.from({ length: dim }, (_, i) => w.projection[r * dim + i]! * (x[i]! - w.mean[i]!)).reduce(
          (s, v) => s + v,
          0,
        ),
      ),
    );
    for (let a = 0; a < 4; a++)
      for (let b = 0; b < 4; b++) {
        const c = projected.reduce((s, y) => s + y[a]! * y[b]!, 0) / projected.length;
        assert.ok(Math.abs(c - (a === b ? 1 : 0)) < 1e-3, `covariance[${a}][${b}] = ${c}`);
      }
  });

  it('learned whitening suppresses the direction in which copies of one picture differ', () => {
    // Copies differ from their original mostly along channel 5 (the widest), pictures along all.
    const pairs = samples.map((x) => {
      const copy = Float64Array.from(x);
      copy[5] = copy[5]! + next() * 60;
      return [x, copy] as const;
    });
    const basis = pcaBasis(samples, dim);
    const learned = fitWhitening(basis, { outputDim: 5, pairs, samples, subspace: dim });
    const plain = fitWhitening(basis, { outputDim: 5 });
    const cosine = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i]!, 0);
    const f32 = (x: ArrayLike<number>) => Float32Array.from(x);
    const original = f32(samples[0]!);
    const copy = f32(samples[0]!).map((v, i) => (i === 5 ? v + 40 : v));
    const other = f32(samples[1]!);
    const sameLearned = cosine(applyWhitening(learned, original), applyWhitening(learned, copy));
    const samePlain = cosine(applyWhitening(plain, original), applyWhitening(plain, copy));
    assert.ok(sameLearned > samePlain, `learned ${sameLearned} > PCA ${samePlain}`);
    assert.ok(
      sameLearned > cosine(applyWhitening(learned, original), applyWhitening(learned, other)),
      'the copy is nearer than another picture',
    );
  });

  it('round-trips through its artefact file, and refuses a file that is not one', () => {
    const w = fitWhitening(pcaBasis(samples, dim), { outputDim: 3 });
    const back = decodeWhitening(encodeWhitening(w));
    assert.deepEqual([back.inputDim, back.outputDim], [dim, 3]);
    assert.deepEqual(Array.from(back.mean), Array.from(w.mean));
    assert.deepEqual(Array.from(back.projection), Array.from(w.projection));
    const x = Float32Array.from(samples[3]!);
    assert.deepEqual(Array.from(applyWhitening(back, x)), Array.from(applyWhitening(w, x)));
    assert.throws(() => decodeWhitening(Buffer.from('not a whitening file')), /not a whitening file/);
    assert.throws(() => decodeWhitening(encodeWhitening(w).subarray(0, 40)), /has 40 bytes/);
  });
});
