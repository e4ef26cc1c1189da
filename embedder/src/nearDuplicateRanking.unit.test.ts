import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fuseNearDuplicateRanking } from './nearDuplicateRanking.ts';

const query = '0000000000000000';
/** A hash `bits` bits away from the query. */
const away = (bits: number) => (2n ** BigInt(bits) - 1n).toString(16).padStart(16, '0');

describe('fuseNearDuplicateRanking', () => {
  const candidates = [
    { id: 'a', perceptualHash: away(30) },
    { id: 'b', perceptualHash: away(12) },
    { id: 'c', perceptualHash: away(4) },
    { id: 'd', perceptualHash: null },
    { id: 'e', perceptualHash: away(1) },
  ];

  it('ranks first the candidates within the threshold, nearest hash first, then the descriptor order', () => {
    const fused = fuseNearDuplicateRanking(query, candidates, { depth: 10, maxHammingDistance: 12 });
    assert.deepEqual(
      fused.map((c) => [c.id, c.rankedBy, c.hammingDistance]),
      [
        ['e', 'perceptual-hash', 1],
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
