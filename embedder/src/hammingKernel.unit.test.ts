import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assembleHammingKernel } from './buildHammingKernel.ts';
import { kernelBytes, nearestNeighbours } from './hammingKernel.ts';

/** The definition, slowly: every distance by counting bits one at a time. */
function reference(q: Uint32Array, n: number, c: Uint32Array, m: number) {
  const distance = (i: number, j: number) => {
    let d = 0;
    for (let w = 0; w < 8; w++) {
      const x = (q[i * 8 + w]! ^ c[j * 8 + w]!) >>> 0;
      for (let b = 0; b < 32; b++) d += (x >>> b) & 1;
    }
    return d;
  };
  const rows = new Int32Array(n * 3);
  const cols = new Int32Array(m * 3).fill(0);
  for (let j = 0; j < m; j++) cols.set([-1, 0xffff, 0xffff], 3 * j);
  for (let i = 0; i < n; i++) {
    let [best, d1, d2] = [-1, 0xffff, 0xffff];
    for (let j = 0; j < m; j++) {
      const d = distance(i, j);
      if (d < d1) [best, d1, d2] = [j, d, d1];
      else if (d < d2) d2 = d;
      if (d < cols[3 * j + 1]!) cols.set([i, d, cols[3 * j + 1]!], 3 * j);
      else if (d < cols[3 * j + 2]!) cols[3 * j + 2] = d;
    }
    rows.set([best, d1, d2], 3 * i);
  }
  return { rows, cols };
}

function descriptors(count: number, seed: number): Uint32Array {
  const words = new Uint32Array(count * 8);
  let state = seed;
  for (let k = 0; k < words.length; k++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    words[k] = state;
  }
  return words;
}

describe('Hamming kernel (WebAssembly)', () => {
  it('is the assembly of hammingKernel.wat', async () => {
    assert.deepEqual(kernelBytes(), await assembleHammingKernel());
  });

  it('finds the nearest and second-nearest both ways exactly as the definition does', () => {
    const q = descriptors(37, 1);
    const c = descriptors(53, 2);
    // Near copies (a few bits flipped) and exact copies, so that matches and ties exist.
    for (let i = 0; i < 20; i++)
      for (let w = 0; w < 8; w++) c[(i * 2 + 5) * 8 + w] = (q[i * 8 + w]! ^ (w === i % 8 ? 1 << i : 0)) >>> 0;
    c.set(q.subarray(30 * 8, 31 * 8), 0);
    assert.deepEqual(nearestNeighbours(q, 37, c, 53), reference(q, 37, c, 53));
    // The other way round, and sizes that need more memory than the module starts with.
    assert.deepEqual(nearestNeighbours(c, 53, q, 37), reference(c, 53, q, 37));
    const big = descriptors(1500, 3);
    const other = descriptors(1200, 4);
    const answer = nearestNeighbours(big, 1500, other, 1200);
    const expected = reference(big, 1500, other, 1200);
    assert.deepEqual(answer.rows.subarray(0, 300), expected.rows.subarray(0, 300));
    assert.deepEqual(answer.cols, expected.cols);
  });

  it('gives every count of rows the same answers, whether or not it fills the eight-row blocks', () => {
    const c = descriptors(23, 5);
    const q = descriptors(19, 6);
    // A row tied between two columns; columns tied between rows of one block, of two blocks
    // and of a block and the rows left over.
    c.set(q.subarray(2 * 8, 3 * 8), 4 * 8);
    c.set(q.subarray(2 * 8, 3 * 8), 9 * 8);
    q.set(q.subarray(3 * 8, 4 * 8), 5 * 8);
    q.set(q.subarray(3 * 8, 4 * 8), 10 * 8);
    q.set(q.subarray(2 * 8, 3 * 8), 17 * 8);
    for (let n = 0; n <= 19; n++) {
      for (const m of [0, 1, 2, 23]) {
        assert.deepEqual(nearestNeighbours(q, n, c, m), reference(q, n, c, m), `${n} × ${m}`);
      }
    }
  });
});
