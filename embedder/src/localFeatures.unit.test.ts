import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { decodeForSearch } from './decodeUpload.ts';
import {
  decodeLocalFeatures,
  extractLocalFeatures,
  defaultVerification,
  LOCAL_FEATURE_COUNT,
  LOCAL_FEATURE_SIZE,
  type LocalFeatures,
  mutualMatches,
  verifyGeometry,
} from './localFeatures.ts';
import { defaultVerificationRanking } from './nearDuplicateRanking.ts';

const photo = (name: string) => readFile(join(import.meta.dirname, '..', 'fixtures', 'photos', name));
const model = { width: 224, height: 224, resize: 'fill' as const };

async function featuresOf(bytes: Uint8Array) {
  const { grey } = await decodeForSearch(bytes, model);
  assert.ok(grey, 'a greyscale copy');
  const blob = await extractLocalFeatures(grey.data, grey.width, grey.height);
  const features = decodeLocalFeatures(blob);
  assert.ok(features, 'the blob decodes');
  return { blob, features, grey };
}

/**
 * The straightforward matcher and RANSAC that `mutualMatches` and `verifyGeometry` must agree
 * with exactly: every distance in plain TypeScript, each direction's nearest two in its own
 * pass, every hypothesis scored over every match. (The Hamming kernel's own test checks its
 * distances against counting bit by bit.)
 */
const reference: {
  mutualMatches(query: LocalFeatures, candidate: LocalFeatures, ratio: number): [number, number][];
  verifyGeometry(
    query: LocalFeatures,
    candidate: LocalFeatures,
    options?: typeof defaultVerification,
    matches?: [number, number][],
  ): number;
} = {
  mutualMatches(query: LocalFeatures, candidate: LocalFeatures, ratio: number): [number, number][] {
    const n = query.count;
    const m = candidate.count;
    if (n < 2 || m < 2) return [];
    // Every distance once, each word's bits counted by the classic shifts and masks.
    const popcount = (x: number) => {
      x -= (x >>> 1) & 0x55555555;
      x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
      return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
    };
    const distances = new Uint16Array(n * m);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < m; j++)
        for (let w = 0; w < 8; w++)
          distances[i * m + j]! += popcount(
            query.descriptors[i * 8 + w]! ^ candidate.descriptors[j * 8 + w]!,
          );
    const distance = (i: number, j: number) => distances[i * m + j]!;
    /** The first index at the smallest distance, that distance, and the second smallest. */
    const nearest = (count: number, at: (k: number) => number) => {
      let [best, d1, d2] = [-1, Infinity, Infinity];
      for (let k = 0; k < count; k++) {
        const d = at(k);
        if (d < d1) [best, d1, d2] = [k, d, d1];
        else if (d < d2) d2 = d;
      }
      return { best, d1, d2 };
    };
    const rows = Array.from({ length: n }, (_, i) => nearest(m, (j) => distance(i, j)));
    const cols = Array.from({ length: m }, (_, j) => nearest(n, (i) => distance(i, j)));
    const matches: [number, number][] = [];
    rows.forEach((row, i) => {
      const col = cols[row.best]!;
      if (col.best === i && row.d1 < ratio * row.d2 && col.d1 < ratio * col.d2) matches.push([i, row.best]);
    });
    return matches;
  },

  verifyGeometry(
    query: LocalFeatures,
    candidate: LocalFeatures,
    options = defaultVerification,
    matches = reference.mutualMatches(query, candidate, options.ratio),
  ): number {
    const k = matches.length;
    if (k < 3) return 0;
    const qx = matches.map(([i]) => query.points[2 * i]!);
    const qy = matches.map(([i]) => query.points[2 * i + 1]!);
    const cx = matches.map(([, j]) => candidate.points[2 * j]!);
    const cy = matches.map(([, j]) => candidate.points[2 * j + 1]!);
    const tolerance = options.tolerance * Math.max(candidate.width, candidate.height);
    let seed = 0x2545f491 ^ k;
    const next = () => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return seed / 0x100000000;
    };
    const everyPair: [number, number][] = [];
    for (let a = 0; a < k; a++) for (let b = a + 1; b < k; b++) everyPair.push([a, b]);
    let best = 0;
    for (let it = 0; it < Math.min(options.iterations, everyPair.length); it++) {
      let a = Math.floor(next() * k);
      let b = Math.floor(next() * (k - 1));
      if (b >= a) b++;
      if (everyPair.length <= options.iterations) [a, b] = everyPair[it]!;
      const dqx = qx[b]! - qx[a]!;
      const dqy = qy[b]! - qy[a]!;
      const dcx = cx[b]! - cx[a]!;
      const dcy = cy[b]! - cy[a]!;
      const norm = dqx * dqx + dqy * dqy;
      if (norm < 1e-6) continue;
      const s = (dcx * dqx + dcy * dqy) / norm;
      const t = (dcy * dqx - dcx * dqy) / norm;
      if (s * s + t * t < 1 / 64 || s * s + t * t > 64) continue;
      const u = cx[a]! - (s * qx[a]! - t * qy[a]!);
      const v = cy[a]! - (t * qx[a]! + s * qy[a]!);
      let inliers = 0;
      for (let p = 0; p < k; p++) {
        const ex = s * qx[p]! - t * qy[p]! + u - cx[p]!;
        const ey = t * qx[p]! + s * qy[p]! + v - cy[p]!;
        if (ex * ex + ey * ey <= tolerance * tolerance) inliers++;
      }
      best = Math.max(best, inliers);
    }
    return best;
  },
};

/** Features made up: `count` keypoints on a 400 × 300 copy, descriptors from a seed. */
function madeUp(count: number, seed: number): LocalFeatures {
  const descriptors = new Uint32Array(count * 8);
  const points = new Float32Array(count * 2);
  let state = seed;
  const next = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0);
  for (let k = 0; k < descriptors.length; k++) descriptors[k] = next();
  for (let k = 0; k < count; k++) {
    points[2 * k] = (next() % 4000) / 10;
    points[2 * k + 1] = (next() % 3000) / 10;
  }
  return { width: 400, height: 300, points, descriptors, count };
}

describe('local features', () => {
  it('finds up to 500 ORB keypoints on a copy no larger than 512 px, in a blob of about 18 KiB', async () => {
    const { blob, features, grey } = await featuresOf(await photo('coffee.jpg'));
    assert.ok(Math.max(grey.width, grey.height) <= LOCAL_FEATURE_SIZE);
    assert.ok(features.count > 300 && features.count <= LOCAL_FEATURE_COUNT, `${features.count} keypoints`);
    assert.equal(blob.length, 8 + features.count * 36);
    assert.deepEqual([features.width, features.height], [grey.width, grey.height]);
    for (let i = 0; i < features.count; i++) {
      assert.ok(features.points[2 * i]! >= 0 && features.points[2 * i]! <= grey.width);
      assert.ok(features.points[2 * i + 1]! >= 0 && features.points[2 * i + 1]! <= grey.height);
    }
  });

  it('verifies an off-centre crop and a watermarked copy of the same photo, and not another photo', async () => {
    const original = await photo('chelsea.jpg');
    const { width, height } = await sharp(original).metadata();
    const crop = await sharp(original)
      .extract({
        left: 0,
        top: Math.round(height * 0.3),
        width: Math.round(width * 0.6),
        height: Math.round(height * 0.6),
      })
      .jpeg({ quality: 85 })
      .toBuffer();
    const text = Buffer.from(
      `<svg width="${width}" height="${height}"><text x="20" y="${height / 2}" font-size="${height / 6}" fill="white" fill-opacity="0.5">© DeepLens</text></svg>`,
    );
    const watermarked = await sharp(original)
      .composite([{ input: text }])
      .jpeg({ quality: 85 })
      .toBuffer();
    const stored = (await featuresOf(original)).features;
    const other = (await featuresOf(await photo('coffee.jpg'))).features;
    const n = defaultVerificationRanking.minInliers;
    for (const [what, bytes] of [
      ['off-centre crop', crop],
      ['watermark', watermarked],
    ] as const) {
      const query = (await featuresOf(bytes)).features;
      const same = verifyGeometry(query, stored);
      const different = verifyGeometry(query, other);
      assert.ok(same >= n, `${what}: ${same} inliers with its original`);
      assert.ok(different < n, `${what}: ${different} inliers with another photo`);
    }
  });

  it('gives a flat picture no keypoints, which verifies nothing', async () => {
    const flat = await sharp({ create: { width: 400, height: 300, channels: 3, background: '#3366aa' } })
      .png()
      .toBuffer();
    const { features } = await featuresOf(flat);
    assert.equal(features.count, 0);
    assert.equal(verifyGeometry(features, features), 0);
  });

  it('answers the same inlier count every time (deterministic RANSAC)', async () => {
    const a = (await featuresOf(await photo('rocket.jpg'))).features;
    const b = (
      await featuresOf(
        await sharp(await photo('rocket.jpg'))
          .rotate(7, { background: '#000' })
          .jpeg()
          .toBuffer(),
      )
    ).features;
    const first = verifyGeometry(b, a);
    assert.ok(first >= defaultVerificationRanking.minInliers, `${first} inliers after a 7° rotation`);
    assert.equal(verifyGeometry(b, a), first);
  });

  it('matches and verifies exactly as the straightforward reference, on the fixtures and edited copies', async () => {
    const sets: LocalFeatures[] = [];
    for (const name of ['chelsea.jpg', 'coffee.jpg', 'rocket.jpg', 'page.jpg']) {
      const original = await photo(name);
      const { width, height } = await sharp(original).metadata();
      sets.push((await featuresOf(original)).features);
      const crop = sharp(original).extract({
        left: Math.round(width * 0.1),
        top: Math.round(height * 0.2),
        width: Math.round(width * 0.7),
        height: Math.round(height * 0.7),
      });
      sets.push((await featuresOf(await crop.jpeg({ quality: 80 }).toBuffer())).features);
      const rotated = sharp(original).rotate(5, { background: '#000' });
      sets.push((await featuresOf(await rotated.jpeg().toBuffer())).features);
    }
    let verified = 0;
    for (const query of sets) {
      for (const candidate of sets) {
        const matches = reference.mutualMatches(query, candidate, defaultVerification.ratio);
        assert.deepEqual(mutualMatches(query, candidate, defaultVerification.ratio), matches);
        const inliers = verifyGeometry(query, candidate);
        assert.equal(inliers, reference.verifyGeometry(query, candidate, defaultVerification, matches));
        if (inliers >= defaultVerificationRanking.minInliers && query !== candidate) verified++;
      }
    }
    // Each original with its two copies, both ways, and the copies with each other.
    assert.ok(verified >= 4 * 6, `${verified} pairs verified: the many-match path is exercised`);
  });

  it('agrees with the reference on made-up features: too few keypoints, equal descriptors, ties, any row count', () => {
    const cases: [string, LocalFeatures, LocalFeatures][] = [];
    for (const n of [0, 1, 2, 3, 4, 5, 7, 9, 37])
      cases.push([`${n} query keypoints`, madeUp(n, n + 1), madeUp(41, 99)]);
    cases.push(['1 candidate keypoint', madeUp(20, 3), madeUp(1, 4)]);
    const same = madeUp(30, 5);
    same.descriptors.fill(0x5a5a5a5a);
    cases.push(
      ['every descriptor equal', same, same],
      ['equal descriptors against others', same, madeUp(30, 6)],
    );
    // Ties: a query descriptor copied to two candidate keypoints, two query descriptors equal
    // to one candidate's, and copies that make clean mutual matches.
    const query = madeUp(45, 7);
    const candidate = madeUp(50, 8);
    for (let i = 0; i < 40; i++)
      candidate.descriptors.set(query.descriptors.subarray(i * 8, i * 8 + 8), (i + 5) * 8);
    candidate.descriptors.set(query.descriptors.subarray(0, 8), 2 * 8);
    query.descriptors.set(query.descriptors.subarray(10 * 8, 11 * 8), 44 * 8);
    cases.push(['ties', query, candidate], ['ties, the other way', candidate, query]);
    for (const [what, q, c] of cases) {
      assert.deepEqual(mutualMatches(q, c, 0.8), reference.mutualMatches(q, c, 0.8), what);
      assert.equal(verifyGeometry(q, c), reference.verifyGeometry(q, c), what);
    }
    assert.deepEqual(mutualMatches(same, same, 0.8), [], 'equal descriptors fail the ratio test');
    const tied = mutualMatches(query, candidate, 0.8);
    assert.ok(!tied.some(([i]) => i === 0 || i === 10 || i === 44), 'a tied keypoint is no match');
    assert.ok(tied.length >= 35, `${tied.length} clean copies match`);
  });

  it('counts every match when one transform explains them all, as the reference does', () => {
    const query = madeUp(60, 9);
    // The candidate: the same descriptors, the points scaled by 0.8, turned 10° and moved.
    const candidate = { ...madeUp(60, 9), width: 400, height: 300 };
    const [cos, sin] = [0.8 * Math.cos(Math.PI / 18), 0.8 * Math.sin(Math.PI / 18)];
    for (let k = 0; k < 60; k++) {
      const [x, y] = [query.points[2 * k]!, query.points[2 * k + 1]!];
      candidate.points[2 * k] = cos * x - sin * y + 30;
      candidate.points[2 * k + 1] = sin * x + cos * y - 10;
    }
    assert.equal(verifyGeometry(query, candidate), 60);
    assert.equal(reference.verifyGeometry(query, candidate), 60);
  });

  it('refuses a blob it did not write', () => {
    assert.equal(decodeLocalFeatures(null), null);
    assert.equal(decodeLocalFeatures(Buffer.from([9, 0, 0, 0, 0, 0, 0, 0])), null);
    assert.equal(
      decodeLocalFeatures(Buffer.from([1, 0, 5, 0, 10, 0, 10, 0])),
      null,
      'count says 5, no keypoints follow',
    );
  });
});
