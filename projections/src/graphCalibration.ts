import type { NativeIndex } from './usearchNative.ts';

export type Calibration = {
  /** How many of the job's vectors serve as queries. */
  queries: number;
  /** Neighbours per query (k of recall@k). */
  k: number;
  /** The recall@k the chosen `ef` must reach on the sample. */
  target: number;
  /** The first `ef` tried, doubled until the target is met. */
  from: number;
  /** Candidates re-scored per search: the graph's first `rescore` answers must hold the top k. */
  rescore: number;
};

/**
 * The smallest search-time candidate list (`ef`: from, 2·from, 4·from, … up to the graph's size)
 * whose first `rescore` candidates hold a query's true k nearest neighbours in at least
 * `target` of the cases, measured on sample queries that are points of the graph (as a search
 * by image id is). The truth is the same graph searched with `ef` = its size, which visits
 * every point: an exhaustive scan at the graph's own precision (the f32 re-scoring orders the
 * candidates it is given, so what matters is whether they are among them).
 *
 * On clustered descriptors this stays at `from`; on vectors with no structure (uniform on the
 * sphere, where HNSW's greedy walk gets lost) it grows until the graph search is exhaustive —
 * recall is kept, paying the exact scan's price.
 */
export function calibrateExpansion(
  graph: NativeIndex,
  queries: readonly (Int8Array | Float32Array)[],
  calibration: Calibration,
  threads: number,
): number {
  const size = graph.size();
  const { k, target, from, rescore } = calibration;
  if (queries.length === 0 || size <= k + 1) return from;
  const wanted = k + 1;
  // Each query is in the graph; its own point is left out of the truth and of the answers.
  const truth = queries.map((query) => {
    const [keys, distances, counts] = graph.search(query, size, threads);
    const n = Number(counts[0] ?? 0);
    const self = nearestKey(keys, distances, n);
    const out = new Set<bigint>();
    for (let i = 0; i < n && out.size < k; i++) if (keys[i] !== self) out.add(keys[i]!);
    return { self, out };
  });
  for (let ef = from; ; ef *= 2) {
    const fetch = Math.min(size, Math.max(ef, wanted));
    let found = 0;
    let total = 0;
    queries.forEach((query, q) => {
      const [keys, , counts] = graph.search(query, fetch, threads);
      const n = Math.min(Number(counts[0] ?? 0), Math.max(rescore, wanted));
      const { self, out } = truth[q]!;
      for (let i = 0; i < n; i++) if (keys[i] !== self && out.has(keys[i]!)) found++;
      total += out.size;
    });
    if (total === 0 || found / total >= target || fetch >= size) return fetch;
  }
}

/** The key at the smallest distance (the query's own point, as it is in the graph). */
function nearestKey(keys: BigUint64Array, distances: Float32Array, n: number): bigint | undefined {
  let best: bigint | undefined;
  let bestDistance = Infinity;
  for (let i = 0; i < n; i++) {
    if (distances[i]! < bestDistance) {
      bestDistance = distances[i]!;
      best = keys[i];
    }
  }
  return best;
}
