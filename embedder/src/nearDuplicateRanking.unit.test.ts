import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fuseNearDuplicateRanking } from './nearDuplicateRanking.ts';

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
