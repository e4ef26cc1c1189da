/**
 * Search by image id in the embedded vector index (the HNSW index the read side searches) at
 * 100 k vectors of dimension 1792 in one tenant's collection: p50/p99 latency at k = 10 and
 * recall@10 against exact brute-force search on the same vectors.
 *   npx tsx bench/search.ts [vectors=100000] [distribution=clustered|random|both] [recallQueries=200]
 * The points go in through the index's own API (`upsert`), not through Kafka and the vector
 * projection (that path is `bench/replay.ts`'s), and are not committed: no log is written.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchMatches, exactSearch, MetricKind } from 'usearch';
import { defaultExactScanLimit, openEmbeddedVectorIndex } from '@deeplens/projections/embeddedVectorIndex';
import { cosineSimilarity, vectorCollectionName } from '@deeplens/platform/vectorIndex';
import { latencySummary, ms, report, scope, type Row } from './benchSupport.ts';
import { dim, prng, vectorSource, type Distribution } from './syntheticVectors.ts';

const count = Number(process.argv[2] ?? 100_000);
const which = process.argv[3] ?? 'clustered';
const recallQueries = Number(process.argv[4] ?? 200);
const k = 10;
const latencyQueries = 2000;

function makeVectors(n: number, distribution: Distribution): Float32Array {
  return vectorSource(distribution).next(n);
}

async function run(distribution: Distribution): Promise<void> {
  const s = scope();
  try {
    const generateStart = performance.now();
    const vectors = makeVectors(count, distribution);
    const generateSeconds = (performance.now() - generateStart) / 1000;
    const row = (i: number) => vectors.subarray(i * dim, (i + 1) * dim);
    const ids = Array.from({ length: count }, (): string => randomUUID());
    const rowOf = new Map(ids.map((id, i) => [id, i]));

    const dir = await mkdtemp(join(tmpdir(), 'deeplens-bench-search-'));
    s.after(() => rm(dir, { recursive: true, force: true }));
    const index = await openEmbeddedVectorIndex({ dir });
    s.after(() => index.close());
    const collection = vectorCollectionName(randomUUID(), 'mobilenet-v2-140-gap', '1.0.0');
    const insertStart = performance.now();
    for (let start = 0; start < count; start += 500) {
      const points = [];
      for (let i = start; i < Math.min(count, start + 500); i++)
        points.push({ id: ids[i]!, vector: row(i), payload: { tags: [], attributes: {} } });
      await index.upsert(collection, points);
    }
    const insertSeconds = (performance.now() - insertStart) / 1000;

    // Search by image id as the read side does it (`vectorQueries.similarTo`): the stored vector,
    // k + 1 neighbours, the image itself left out.
    const similarTo = async (id: string) => {
      const [point] = await index.get(collection, [id]);
      if (!point) throw new Error(`no point ${id}`);
      const hits = await index.search(collection, point.vector, { k: k + 1 });
      return hits.filter((h) => h.id !== id).slice(0, k);
    };
    const { uniform } = prng(7);
    const pick = () => ids[Math.floor(uniform() * count)]!;
    // The first search starts the graph build in the index's worker thread (and answers by an
    // exact scan meanwhile); the build until the graph holds every point is timed on its own.
    const firstStart = performance.now();
    await similarTo(pick());
    await index.settleGraphs();
    const firstSearchSeconds = (performance.now() - firstStart) / 1000;
    for (let i = 0; i < 200; i++) await similarTo(pick());
    // Interleaved with the queries, a fixed CPU task: its spread is the machine's scheduling
    // jitter (other processes on the 2 cores), which the query latencies suffer too.
    const fixedTask = (seed: number) => {
      let sum = 0;
      for (let j = 0; j < 128; j++) {
        const a = row((seed + j) % count);
        for (let d = 0; d < dim; d++) sum += a[d]! * a[d]!;
      }
      return sum;
    };
    // Three rounds; the one whose jitter floor was lowest is reported (judged by the floor, not
    // by the query latencies), all three p99s alongside.
    const rounds = [];
    for (let round = 0; round < 3; round++) {
      const latencies: number[] = [];
      const fixed: number[] = [];
      for (let i = 0; i < latencyQueries; i++) {
        const id = pick();
        const start = performance.now();
        await similarTo(id);
        const between = performance.now();
        fixedTask(i);
        fixed.push(performance.now() - between);
        latencies.push(between - start);
      }
      rounds.push({ latency: latencySummary(latencies), jitter: latencySummary(fixed) });
    }
    const { latency, jitter } = rounds.reduce((a, b) => (b.jitter.p99 < a.jitter.p99 ? b : a));

    // The reference: exact search over every vector (a brute-force scan; no graph involved).
    const queryIds = Array.from({ length: recallQueries }, pick);
    const queries = new Float32Array(recallQueries * dim);
    queryIds.forEach((id, q) => queries.set(row(rowOf.get(id)!), q * dim));
    const exactStart = performance.now();
    const exact = exactSearch(vectors, queries, dim, k + 1, MetricKind.IP);
    if (!(exact instanceof BatchMatches)) throw new Error('expected one result per query');
    const exactMsPerQuery = (performance.now() - exactStart) / recallQueries;
    const exactTop = (q: number) =>
      [...exact.keys.subarray(q * (k + 1), (q + 1) * (k + 1))]
        .map((key) => ids[Number(key)]!)
        .filter((id) => id !== queryIds[q])
        .slice(0, k);
    // …cross-checked against a plain scan with the platform's cosine on a few queries.
    const checked = Math.min(5, recallQueries);
    const scanStart = performance.now();
    for (let q = 0; q < checked; q++) {
      const query = queries.subarray(q * dim, (q + 1) * dim);
      const scored: [number, number][] = [];
      for (let i = 0; i < count; i++) scored.push([i, cosineSimilarity(query, row(i))]);
      scored.sort((a, b) => b[1] - a[1]);
      const scan = scored
        .map(([i]) => ids[i]!)
        .filter((id) => id !== queryIds[q])
        .slice(0, k);
      if (scan.join() !== exactTop(q).join())
        throw new Error(`the exact reference disagrees with a plain scan on query ${q}`);
    }
    const scanMsPerQuery = (performance.now() - scanStart) / checked;

    let found = 0;
    let minimum = 1;
    for (let q = 0; q < recallQueries; q++) {
      const truth = new Set(exactTop(q));
      const hits = await similarTo(queryIds[q]!);
      const recall = hits.filter((h) => truth.has(h.id)).length / k;
      found += recall * k;
      minimum = Math.min(minimum, recall);
    }
    const recall = found / (recallQueries * k);

    const rows: Row[] = [
      {
        measure: 'search by image id, k = 10: p50',
        value: ms(latency.p50),
        limit: `${ms(scanMsPerQuery)} (exact scan in JS)`,
        ratio: (latency.p50 / scanMsPerQuery).toFixed(4),
      },
      {
        measure: `search by image id, k = 10: p99 (max ${ms(latency.max)})`,
        value: ms(latency.p99),
        limit: `${ms(exactMsPerQuery)} (exact scan, usearch SIMD)`,
        ratio: (latency.p99 / exactMsPerQuery).toFixed(2),
        bar: 'p99 ≤ 10 ms',
        verdict:
          (latency.p99 <= 10 ? 'pass' : 'miss') +
          (latency.p99 > 10 && jitter.p99 / jitter.p50 > 3
            ? ` (contended: the jitter floor's p99 is ${(jitter.p99 / jitter.p50).toFixed(0)}× its p50)`
            : ''),
      },
      {
        measure: 'p99 of each round (jitter floor p99)',
        value: rounds.map((r) => `${ms(r.latency.p99)} (${ms(r.jitter.p99)})`).join(' · '),
      },
      {
        measure: 'fixed CPU task interleaved with the queries (jitter floor): p50 / p99',
        value: `${ms(jitter.p50)} / ${ms(jitter.p99)}`,
        ratio: `p99/p50 ${(jitter.p99 / jitter.p50).toFixed(1)} (queries: ${(latency.p99 / latency.p50).toFixed(1)})`,
      },
      {
        measure: `recall@10 (mean over ${recallQueries} queries; worst query ${minimum.toFixed(1)})`,
        value: recall.toFixed(4),
        limit: 'exact search, same vectors',
        bar: '≥ 0.98',
        verdict: recall >= 0.98 ? 'pass' : 'miss',
      },
      {
        measure: `index build: ${count} \`upsert\`s (500 per call) + the graph build (worker thread)`,
        value: `${insertSeconds.toFixed(1)} s + ${firstSearchSeconds.toFixed(1)} s = ${(count / (insertSeconds + firstSearchSeconds)).toFixed(0)} vectors/s`,
        bar: 'informative (the vector projection’s 10 k/s bar: `bench/replay.ts`)',
      },
    ];
    await report(
      `Vector search by image id (${count} ${distribution} unit vectors, dim ${dim}, one tenant)`,
      rows,
      [
        `Embedded index (\`openEmbeddedVectorIndex\`, usearch HNSW, cosine, int8 graph built in a worker thread, candidates re-scored with the f32 originals) with the default parameters (M = 16, ef_construction = 128, ef_search = 128, exact scan up to ${defaultExactScanLimit} points); points inserted through the index API, not through Kafka, and not committed (no log written). Vectors generated in ${generateSeconds.toFixed(0)} s with a fixed seed.`,
        distribution === 'clustered'
          ? 'Clustered: non-negative vectors with a 64-d intrinsic dimension (1 000 clusters + 10% noise), unrelated pairs at cosine ≈ 0.3 — closer to pooled CNN descriptors than uniform random vectors.'
          : 'Random: uniform on the 1792-d sphere; every pairwise distance is nearly the same, the worst case for a graph index and unlike real descriptors.',
        `Latency: 3 rounds of ${latencyQueries} queries from one caller after 200 warm-up queries (the round with the lowest jitter-floor p99 reported), each \`get\` + \`search(k + 1)\` + dropping the image itself, as \`vectorQueries.similarTo\` does; in-process, no HTTP (the HTTP figures are in the read API table of \`bench/ingest.ts\`). Limits: exact brute-force search time per query, in plain JS (\`cosineSimilarity\`) and with usearch's SIMD \`exactSearch\` (all cores, ${recallQueries} queries per call).`,
        `Recall reference: usearch \`exactSearch\` (inner product over all ${count} unit vectors), checked identical to a plain JS cosine scan on ${checked} queries.`,
      ],
    );
  } finally {
    await s.close();
  }
}

for (const distribution of which === 'both' ? (['clustered', 'random'] as const) : [which as Distribution]) {
  await run(distribution);
}
