/**
 * Qdrant beside the embedded index, in the same run, on the same vectors and queries: replay
 * through the durable path (upserts in calls of 500, a commit every `--commit-every` points —
 * the embedded index fsyncs its log, the Qdrant adapter sends its batch with `wait=true` and
 * then its checkpoint point), the time until the index is searchable (embedded: its graphs
 * built; Qdrant: the collection `green`, optimisers done), search p50/p99 at k = 10 and
 * recall@10 against an exact search. Qdrant runs twice: full-precision vectors, and with scalar
 * int8 quantization whose candidates are re-scored with the originals (oversampling 2).
 * Vectors: `syntheticVectors.ts`'s clustered 1792-d source; with `--dim` below 1792, its first
 * `dim` coordinates, renormalised (the same clusters in fewer dimensions).
 *   QDRANT_URL=http://127.0.0.1:16333 npx tsx bench/qdrant.ts [--n 100000] [--dim 1792] [--queries 200]
 * One tenant, as `scaling.ts` measures the embedded index; the adapter's per-tenant graphs
 * (`is_tenant`) make that the case a search pays for.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { QdrantClient } from '@qdrant/js-client-rest';
import { BatchMatches, exactSearch, MetricKind } from 'usearch';
import { openEmbeddedVectorIndex } from '@deeplens/projections/embeddedVectorIndex';
import { createQdrantVectorIndex, dropQdrantNamespace } from '@deeplens/projections/qdrantVectorIndex';
import { vectorCollectionName, type VectorIndex } from '@deeplens/platform/vectorIndex';
import { latencySummary, ms, report, type Row } from './benchSupport.ts';
import { dim as sourceDim, vectorSource } from './syntheticVectors.ts';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '100000' },
    dim: { type: 'string', default: String(sourceDim) },
    queries: { type: 'string', default: '200' },
    'commit-every': { type: 'string', default: '2000' },
  },
});
const n = Number(values.n);
const dim = Number(values.dim);
const queryCount = Number(values.queries);
const commitEvery = Number(values['commit-every']);
const k = 10;
const perCall = 500;
const url = process.env.QDRANT_URL ?? 'http://127.0.0.1:16333';
const apiKey = process.env.QDRANT_API_KEY;
if (!(dim > 0 && dim <= sourceDim) || !(n > queryCount)) {
  console.error(`bench/qdrant.ts: --dim 1..${sourceDim}, --n above --queries`);
  process.exit(2);
}

// The vectors, generated once, in chunks (the 1792-d source, cut to `dim` and renormalised).
const generated = performance.now();
const vectors = new Float32Array(n * dim);
{
  const source = vectorSource('clustered');
  for (let start = 0; start < n; start += 10_000) {
    const rows = Math.min(10_000, n - start);
    const chunk = source.next(rows);
    for (let r = 0; r < rows; r++) {
      const v = vectors.subarray((start + r) * dim, (start + r + 1) * dim);
      v.set(chunk.subarray(r * sourceDim, r * sourceDim + dim));
      let norm = 0;
      for (let j = 0; j < dim; j++) norm += v[j]! * v[j]!;
      const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
      for (let j = 0; j < dim; j++) v[j] = v[j]! * scale;
    }
  }
}
const ids: string[] = Array.from({ length: n }, () => randomUUID());
// Search by image id, as the read side does: the first vectors are the queries, themselves left out.
const queries = vectors.subarray(0, queryCount * dim);
const found = exactSearch(vectors, queries, dim, k + 1, MetricKind.IP, 0) as BatchMatches;
const truth = Array.from({ length: queryCount }, (_, q) => {
  const rows = Array.from({ length: k + 1 }, (_, j) => Number(found.keys[q * (k + 1) + j]));
  return new Set<string>(
    rows
      .filter((row) => row !== q)
      .slice(0, k)
      .map((row) => ids[row]!),
  );
});
console.log(
  `${n} vectors of ${dim}-d and the exact answers in ${((performance.now() - generated) / 1000).toFixed(1)} s`,
);

type Measured = {
  replayPerSecond: number;
  searchableSeconds: number;
  p50: number;
  p99: number;
  recall: number;
  worst: number;
};

async function measure(
  name: string,
  index: VectorIndex,
  settle: (collection: string) => Promise<void>,
): Promise<Measured> {
  const collection = vectorCollectionName(randomUUID(), 'mobilenet-v2-140-gap', '1.0.0');
  const began = performance.now();
  for (let at = 0; at < n; at += perCall) {
    const points = [];
    for (let i = at; i < Math.min(n, at + perCall); i++)
      points.push({
        id: ids[i]!,
        vector: vectors.subarray(i * dim, (i + 1) * dim),
        payload: { tags: [], attributes: {} },
      });
    await index.upsert(collection, points);
    if ((at + perCall) % commitEvery === 0 || at + perCall >= n)
      await index.commit({ checkpoints: { 'bench:0': at + perCall - 1 } });
  }
  const replaySeconds = (performance.now() - began) / 1000;
  await settle(collection);
  const searchableSeconds = (performance.now() - began) / 1000;
  console.log(
    `${name}: replay ${replaySeconds.toFixed(1)} s, searchable after ${searchableSeconds.toFixed(1)} s`,
  );
  const latencies: number[] = [];
  let foundTotal = 0;
  let worst = 1;
  for (let round = 0; round < 3; round++) {
    for (let q = 0; q < queryCount; q++) {
      const query = queries.subarray(q * dim, (q + 1) * dim);
      const started = performance.now();
      const hits = (await index.search(collection, query, { k: k + 1 }))
        .filter((h) => h.id !== ids[q])
        .slice(0, k);
      latencies.push(performance.now() - started);
      if (round > 0) continue;
      const recall = hits.filter((h) => truth[q]!.has(h.id)).length / k;
      foundTotal += recall * k;
      worst = Math.min(worst, recall);
    }
  }
  if ((await index.count(collection)) !== n)
    throw new Error(`${name} holds ${await index.count(collection)} of ${n}`);
  const { p50, p99 } = latencySummary(latencies.slice(queryCount));
  return {
    replayPerSecond: n / replaySeconds,
    searchableSeconds,
    p50,
    p99,
    recall: foundTotal / (queryCount * k),
    worst,
  };
}

async function embedded(): Promise<Measured> {
  const dir = await mkdtemp(join(tmpdir(), 'deeplens-bench-qdrant-'));
  const index = await openEmbeddedVectorIndex({ dir, snapshotAfterBytes: 2 ** 50 });
  try {
    return await measure('embedded', index, () => index.settleGraphs());
  } finally {
    // No close: it would fold the log into a snapshot, which this table does not time.
    await rm(dir, { recursive: true, force: true });
  }
}

async function qdrant(quantization?: 'int8'): Promise<Measured> {
  const namespace = `bench_qdrant_${randomUUID().slice(0, 8)}`;
  const client = new QdrantClient({ url, apiKey, checkCompatibility: false });
  const index = createQdrantVectorIndex({ url, apiKey, namespace, quantization });
  try {
    return await measure(`qdrant${quantization ? ` ${quantization}` : ''}`, index, async () => {
      // Searchable at full speed once the optimisers have built the (per-tenant) graphs.
      const physical = `${namespace}__mobilenet-v2-140-gap@1.0.0`;
      for (;;) {
        const info = await client.getCollection(physical);
        if (info.status === 'green') return;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    });
  } finally {
    await index.close();
    await dropQdrantNamespace({ url, apiKey, namespace });
  }
}

const base = await embedded();
const full = await qdrant();
const int8 = await qdrant('int8');

const rate = (m: Measured) => `${Math.round(m.replayPerSecond).toLocaleString('en')} vectors/s`;
const seconds = (m: Measured) => `${m.searchableSeconds.toFixed(1)} s`;
const recall = (m: Measured) => `${m.recall.toFixed(3)} (worst query ${m.worst.toFixed(1)})`;
const ratio = (a: number, b: number) => (a / b).toFixed(2);
const rows: Row[] = [];
for (const [label, m] of [
  ['Qdrant', full],
  ['Qdrant int8 + re-scoring', int8],
] as const) {
  rows.push(
    {
      measure: `replay (durable path), ${label}`,
      value: rate(m),
      limit: `embedded ${rate(base)}`,
      ratio: ratio(m.replayPerSecond, base.replayPerSecond),
      verdict: 'informative',
    },
    {
      measure: `searchable after (replay + index build), ${label}`,
      value: seconds(m),
      limit: `embedded ${seconds(base)}`,
      ratio: ratio(m.searchableSeconds, base.searchableSeconds),
      verdict: 'informative',
    },
    {
      measure: `search p50 (k = 10, by image id), ${label}`,
      value: ms(m.p50),
      limit: `embedded ${ms(base.p50)}`,
      ratio: ratio(m.p50, base.p50),
      verdict: 'informative',
    },
    {
      measure: `search p99, ${label}`,
      value: ms(m.p99),
      limit: `embedded ${ms(base.p99)}`,
      ratio: ratio(m.p99, base.p99),
      verdict: 'informative',
    },
    {
      measure: `recall@10, ${label}`,
      value: recall(m),
      limit: `embedded ${recall(base)}`,
      bar: '≥ 0.95',
      verdict: m.recall >= 0.95 ? 'pass' : 'miss',
    },
  );
}
await report(
  `Qdrant beside the embedded index: ${n.toLocaleString('en')} vectors of ${dim}-d in one tenant, ${queryCount} queries`,
  rows,
  [
    `Qdrant at ${url} (the stack's, shared with whatever else runs); the adapter DeepLens uses (\`qdrantVectorIndex.ts\`: one collection per model version, \`is_tenant\` index, per-tenant HNSW m 16, hnsw_ef 128) against \`openEmbeddedVectorIndex\` with its defaults.`,
    `Replay: upserts of ${perCall}, a commit every ${commitEvery} points, timed until the last commit returned (embedded: log fsynced; Qdrant: batch and checkpoint applied, \`wait=true\`). Searchable: until the graphs are built (embedded \`settleGraphs\`, Qdrant status green).`,
    `Vectors: \`syntheticVectors.ts\` clustered${dim < sourceDim ? `, the first ${dim} of 1792 coordinates renormalised` : ''}; recall against an exact inner-product search (usearch \`exactSearch\`).`,
    `Reproduce: \`npx tsx bench/qdrant.ts --n ${n} --dim ${dim} --queries ${queryCount}\`.`,
  ],
);
process.exit(0);
