import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fuseNearDuplicateRanking, promoteVerified } from './nearDuplicateRanking.ts';

/** A hash as real pictures have them: 32 of the 64 bits set. */
const query = 'ffffffff00000000';
/** A hash as balanced as the query, `bits` (even) bits away from it. */
const away = (bits: number) => {
  const half = bits / 2;
  const upper = (0xffffffff - (2 ** half - 1)).toString(16).padStart(8, '0');
  const lower = (2 ** half - 1).toString(16).padStart(8, '0');
  return upper + lower;
};

describe('fuseNearDuplicateRanking', () => {
  const candidates = [
    { id: 'a', perceptualHash: away(30) },
    { id: 'b', perceptualHash: away(12) },
    { id: 'c', perceptualHash: away(4) },
    { id: 'd', perceptualHash: null },
    { id: 'e', perceptualHash: away(2) },
  ];

  it('ranks first the candidates within the threshold, nearest hash first, then the descriptor order', () => {
    const fused = fuseNearDuplicateRanking(query, candidates, { depth: 10, maxHammingDistance: 12 });
    assert.deepEqual(
      fused.map((c) => [c.id, c.rankedBy, c.hammingDistance]),
      [
        ['e', 'perceptual-hash', 2],
        ['c', 'perceptual-hash', 4],
        ['b', 'perceptual-hash', 12],
        ['a', 'descriptor', 30],
        ['d', 'descriptor', null],
      ],
    );
  });

  it('lifts only from the descriptor top `depth`', () => {
    const fused = fuseNearDuplicateRanking(query, candidates, { depth: 3, maxHammingDistance: 10 });
    assert.deepEqual(
      fused.map((c) => c.id),
      ['c', 'a', 'b', 'd', 'e'],
    );
  });

  it('never lifts on the hash of a flat picture, nearly all zeros whatever the picture', () => {
    const flat = '0000000000000000';
    const fused = fuseNearDuplicateRanking(flat, [{ id: 'a' }, { id: 'b', perceptualHash: flat }], {
      depth: 10,
      maxHammingDistance: 10,
    });
    assert.deepEqual(
      fused.map((c) => [c.id, c.rankedBy]),
      [
        ['a', 'descriptor'],
        ['b', 'descriptor'],
      ],
    );
  });

  it("keeps the descriptor's order without a query hash or a match", () => {
    for (const [hash, threshold] of [
      [null, 64],
      [query, 0],
    ] as const) {
      const fused = fuseNearDuplicateRanking(hash, candidates, { depth: 10, maxHammingDistance: threshold });
      assert.deepEqual(
        fused.map((c) => c.id),
        ['a', 'b', 'c', 'd', 'e'],
      );
      assert.ok(fused.every((c) => c.rankedBy === 'descriptor'));
    }
  });
});

describe('promoteVerified', () => {
  const fused = ['a', 'b', 'c', 'd', 'e'].map((id) => ({ id, rankedBy: 'descriptor' as const }));
  const inliers: Record<string, number | null> = { a: 3, b: 40, c: null, d: 90, e: 500 };

  it('ranks first the verified candidates within depth, most inliers first, the rest in fused order', () => {
    const asked: string[] = [];
    const ranked = promoteVerified(
      fused,
      (c) => {
        asked.push(c.id);
        return inliers[c.id] ?? null;
      },
      { depth: 4, minInliers: 15 },
    );
    assert.deepEqual(asked, ['a', 'b', 'c', 'd'], 'only the first depth candidates are compared');
    assert.deepEqual(
      ranked.map((c) => c.id),
      ['d', 'b', 'a', 'c', 'e'],
    );
    assert.deepEqual(
      ranked.map((c) => [c.verified, c.inliers, c.rankedBy]),
      [
        [true, 90, 'geometric'],
        [true, 40, 'geometric'],
        [false, 3, 'descriptor'],
        [false, null, 'descriptor'],
        [false, null, 'descriptor'],
      ],
    );
  });

  it('keeps the fused order when nothing reaches the threshold', () => {
    const ranked = promoteVerified(fused, () => 14, { depth: 10, minInliers: 15 });
    assert.deepEqual(
      ranked.map((c) => c.id),
      ['a', 'b', 'c', 'd', 'e'],
    );
    assert.ok(ranked.every((c) => !c.verified && c.inliers === 14));
  });

  it('stops comparing once a candidate reaches stopAt; the later ones are not compared', () => {
    const asked: string[] = [];
    const ranked = promoteVerified(
      fused,
      (c) => {
        asked.push(c.id);
        return inliers[c.id] ?? null;
      },
      { depth: 5, minInliers: 15, stopAt: 30 },
    );
    assert.deepEqual(asked, ['a', 'b'], 'b has 40 ≥ 30 inliers: c, d and e are not compared');
    assert.deepEqual(
      ranked.map((c) => [c.id, c.verified, c.inliers]),
      [
        ['b', true, 40],
        ['a', false, 3],
        ['c', false, null],
        ['d', false, null],
        ['e', false, null],
      ],
    );
  });
});
