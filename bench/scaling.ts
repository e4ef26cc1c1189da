/**
 * Scaling of the embedded vector index in one tenant: for 10 k, 100 k and 1 M vectors of 1792
 * dimensions (clustered like CNN descriptors, `syntheticVectors.ts`), the index's memory (RSS
 * delta), the time to a searchable index (upserts + log commits + graph builds in the worker),
 * search p50/p99 at k = 10, recall@10 against an exact search of the same vectors, and disk.
 * Before the table, the exact-scan limit is measured: where a SIMD scan of the collection
 * stops being faster than a graph search (Qdrant's `full_scan_threshold`).
 *   npx tsx bench/scaling.ts [--sizes 10000,100000,1000000] [--distribution clustered|random] [--queries 200] [--ef 128,512]
 * Each size runs in a process of its own, so its memory is its own; `--no-crossover` skips the
 * exact-scan limit's measurement. `--ef` lists search-time candidate list sizes (HNSW `ef`, also
 * how many candidates are re-scored in f32) to measure on the same graph, the default first.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BatchMatches, exactSearch, MetricKind } from 'usearch';
import {
  defaultExactScanLimit,
  defaultHnsw,
  openEmbeddedVectorIndex,
  type EmbeddedVectorIndex,
} from '@deeplens/projections/embeddedVectorIndex';
import { vectorCollectionName } from '@deeplens/platform/vectorIndex';
import { latencySummary, ms, report, type Row } from './benchSupport.ts';
import { dim, vectorSource, type Distribution } from './syntheticVectors.ts';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000,100000,1000000' },
    distribution: { type: 'string', default: 'clustered' },
    queries: { type: 'string', default: '200' },
    one: { type: 'string' },
    'no-crossover': { type: 'boolean', default: false },
    ef: { type: 'string', default: '' },
  },
});
const distribution = values.distribution as Distribution;
const queryCount = Number(values.queries);
/** Search-time ef values to measure on each graph; empty: the index's default only. */
const efs = values.ef ? values.ef.split(',').map(Number) : [];
const k = 10;
const gib = 2 ** 30;
const memoryBarBytes = 4 * gib;
const memoryBarVectors = 1_000_000;

type Measured = {
  n: number;
  generateSeconds: number;
  buildSeconds: number;
  graphSeconds: number;
  rssDelta: number;
  mappedNotResident: number;
  peakRssDelta: number;
  p50: number;
  p99: number;
  recall: number;
  worst: number;
  /** The graph's calibrated search-time ef. */
  ef: number | undefined;
  /** Per extra `--ef` value: the same searches with that candidate list. */
  byEf: { ef: number; p50: number; p99: number; recall: number; worst: number }[];
  diskBytes: number;
  walBytes: number;
};

function rss(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage.rss();
}

/** Bytes of the index's mapped graph files not resident in RAM (counted as memory anyway). */
function mappedNotResident(): number {
  let out = 0;
  let inGraph = false;
  let size = 0;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inGraph = line.endsWith('.usearch');
    else if (inGraph && line.startsWith('Size:')) size = Number(/(\d+)/.exec(line)![1]) * 1024;
    else if (inGraph && line.startsWith('Rss:')) out += size - Number(/(\d+)/.exec(line)![1]) * 1024;
  }
  return out;
}

function diskUsage(path: string): number {
  let total = 0;
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const full = join(path, entry.name);
    total += entry.isDirectory() ? diskUsage(full) : statSync(full).size;
  }
  return total;
}

/** One size, in this process: build, search, compare with the exact answer. */
async function measure(n: number): Promise<Measured> {
  const source = vectorSource(distribution);
  const step = Math.max(10_000, Math.ceil(n / 10));
  const perCall = 500;
  const commitEvery = 10_000;
  const queries = new Float32Array(queryCount * dim);
  // The exact answer, kept up to date chunk by chunk: per query the best k + 1 (row, distance).
  const truth: { row: number; distance: number }[][] = Array.from({ length: queryCount }, () => []);
  const ids: string[] = [];
  const dir = await mkdtemp(join(tmpdir(), 'deeplens-bench-scaling-'));
  const baseline = rss();
  const index: EmbeddedVectorIndex = await openEmbeddedVectorIndex({ dir, snapshotAfterBytes: 2 ** 50 });
  const collection = vectorCollectionName(randomUUID(), 'mobilenet-v2-140-gap', '1.0.0');
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 100);
  let generateSeconds = 0;
  let buildSeconds = 0;
  let graphSeconds = 0;
  for (let start = 0; start < n; start += step) {
    const rows = Math.min(step, n - start);
    let began = performance.now();
    const chunk = source.next(rows);
    generateSeconds += (performance.now() - began) / 1000;
    if (start === 0) queries.set(chunk.subarray(0, queryCount * dim));
    const found = exactSearch(chunk, queries, dim, Math.min(k + 1, rows), MetricKind.IP, 0) as BatchMatches;
    const per = Math.min(k + 1, rows);
    for (let q = 0; q < queryCount; q++) {
      for (let j = 0; j < per; j++)
        truth[q]!.push({
          row: start + Number(found.keys[q * per + j]),
          distance: found.distances[q * per + j]!,
        });
      truth[q]!.sort((a, b) => a.distance - b.distance);
      truth[q]!.length = Math.min(truth[q]!.length, k + 1);
    }
    began = performance.now();
    for (let at = 0; at < rows; at += perCall) {
      const points = [];
      for (let i = at; i < Math.min(rows, at + perCall); i++) {
        const id = randomUUID();
        ids.push(id);
        points.push({
          id,
          vector: chunk.subarray(i * dim, (i + 1) * dim),
          payload: { tags: [], attributes: {} },
        });
      }
      await index.upsert(collection, points);
      if ((start + at + perCall) % commitEvery === 0 || at + perCall >= rows)
        await index.commit({ checkpoints: { [`bench:0`]: start + at } });
    }
    const graphStart = performance.now();
    await index.settleGraphs();
    graphSeconds += (performance.now() - graphStart) / 1000;
    buildSeconds += (performance.now() - began) / 1000;
    // Progress on stderr, so a run stopped early still tells how far it got and at what cost.
    console.error(
      `[${new Date().toISOString()}] ${start + rows}/${n}: build ${buildSeconds.toFixed(1)} s (graph ${graphSeconds.toFixed(1)} s), generate ${generateSeconds.toFixed(1)} s, RSS delta ${((process.memoryUsage.rss() - baseline) / gib).toFixed(2)} GiB, peak ${((peak - baseline) / gib).toFixed(2)} GiB, ef ${index.graphExpansion(collection) ?? '-'}, load ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' / ')}`,
    );
  }
  clearInterval(sampler);
  const status = index.graphStatus(collection);
  if (n > defaultExactScanLimit && status.graphed !== n)
    throw new Error(`the graph holds ${status.graphed} of ${n} points`);

  // Up to the exact-scan limit the answer is a scan of the points in no graph: searched, as the
  // read API does, through a follower (it holds them in RAM; the writer keeps no copy and would
  // read each from its log). Above it both answer from the same graph file and f32 re-scoring,
  // so the writer is searched (a follower would build the whole graph again).
  const follower =
    n <= defaultExactScanLimit ? await openEmbeddedVectorIndex({ dir, mode: 'follower' }) : undefined;
  const searched = follower ?? index;
  // Search by image id, as the read side does: the stored vector, k + 1 hits, itself left out.
  const searches = async () => {
    const latencies: number[] = [];
    let foundTotal = 0;
    let worst = 1;
    for (let round = 0; round < 3; round++) {
      for (let q = 0; q < queryCount; q++) {
        const query = queries.subarray(q * dim, (q + 1) * dim);
        const began = performance.now();
        const hits = (await searched.search(collection, query, { k: k + 1 }))
          .filter((h) => h.id !== ids[q])
          .slice(0, k);
        latencies.push(performance.now() - began);
        if (round > 0) continue;
        const expected = new Set(
          truth[q]!.filter((t) => t.row !== q)
            .slice(0, k)
            .map((t) => ids[t.row]),
        );
        const recall = hits.filter((h) => expected.has(h.id)).length / k;
        foundTotal += recall * k;
        worst = Math.min(worst, recall);
      }
    }
    const { p50, p99 } = latencySummary(latencies.slice(queryCount));
    return { p50, p99, recall: foundTotal / (queryCount * k), worst };
  };
  const byDefault = await searches();
  const byEf = [];
  for (const ef of efs) {
    searched.setExpansionSearch(ef);
    byEf.push({ ef, ...(await searches()) });
  }
  // With the follower's copy counted: what a writer and one read API on this machine hold.
  const rssDelta = rss() - baseline;
  const unmapped = mappedNotResident();
  await follower?.close();
  const walBytes = readdirSync(dir)
    .filter((f) => f.startsWith('wal-'))
    .reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
  const diskBytes = diskUsage(dir);
  // No close: it would fold the whole log into a snapshot, which this table does not time.
  await rm(dir, { recursive: true, force: true });
  return {
    n,
    generateSeconds,
    buildSeconds,
    graphSeconds,
    rssDelta,
    mappedNotResident: unmapped,
    peakRssDelta: Math.max(peak, process.memoryUsage.rss()) - baseline,
    ...byDefault,
    ef: index.graphExpansion(collection),
    byEf,
    diskBytes,
    walBytes,
  };
}

/** Search p50 by an exact scan and by the graph, at sizes around the default exact-scan limit. */
async function measureCrossover(): Promise<{ n: number; exact: number; graph: number }[]> {
  const out = [];
  for (const n of [1000, 2000, 4000, 8000, 16000]) {
    const vectors = vectorSource(distribution).next(n);
    const p50 = async (exactScanLimit: number) => {
      const dir = await mkdtemp(join(tmpdir(), 'deeplens-bench-crossover-'));
      const writer = await openEmbeddedVectorIndex({ dir, exactScanLimit });
      const points = Array.from({ length: n }, (_, i) => ({
        id: randomUUID(),
        vector: vectors.subarray(i * dim, (i + 1) * dim),
        payload: { tags: [], attributes: {} },
      }));
      for (let i = 0; i < n; i += 500) await writer.upsert('c', points.slice(i, i + 500));
      await writer.commit({ checkpoints: { 'bench:0': n } });
      // Searched as the read API searches: a follower of the writer's commits, which holds the
      // points of no graph in RAM (a writer keeps none and would read each from its log).
      const index = await openEmbeddedVectorIndex({ dir, exactScanLimit, mode: 'follower' });
      await index.settleGraphs();
      const latencies = [];
      for (let q = 0; q < 300; q++) {
        const query = vectors.subarray((q % n) * dim, ((q % n) + 1) * dim);
        const began = performance.now();
        await index.search('c', query, { k: k + 1 });
        latencies.push(performance.now() - began);
      }
      await index.close();
      await writer.close();
      await rm(dir, { recursive: true, force: true });
      return latencySummary(latencies.slice(100)).p50;
    };
    out.push({ n, exact: await p50(Number.MAX_SAFE_INTEGER), graph: await p50(0) });
  }
  return out;
}

function runSize(n: number): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--expose-gc',
        '--import',
        'tsx',
        import.meta.filename,
        '--one',
        String(n),
        '--distribution',
        distribution,
        '--queries',
        String(queryCount),
        ...(values.ef ? ['--ef', values.ef] : []),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let output = '';
    child.stdout.on('data', (data: Buffer) => (output += data.toString()));
    child.on('exit', (code) => {
      const line = output.split('\n').find((l) => l.startsWith('RESULT '));
      if (code === 0 && line) resolve(JSON.parse(line.slice(7)) as Measured);
      else reject(new Error(`the ${n}-vector run failed (exit ${code})`));
    });
  });
}

if (values.one) {
  console.log(`RESULT ${JSON.stringify(await measure(Number(values.one)))}`);
  process.exit(0);
}

const gb = (bytes: number) => `${(bytes / gib).toFixed(2)} GiB`;
const rows: Row[] = [];
const crossover = values['no-crossover'] ? [] : await measureCrossover();
const measuredLimit = crossover.find((c) => c.graph < c.exact)?.n;
for (const c of crossover) {
  rows.push({
    measure: `exact-scan limit: search p50 at ${c.n} vectors, exact SIMD scan vs graph`,
    value: `${ms(c.exact)} vs ${ms(c.graph)}`,
    ratio: (c.exact / c.graph).toFixed(2),
    verdict: c.exact <= c.graph ? 'exact scan' : 'graph',
  });
}
if (crossover.length > 0)
  rows.push({
    measure: 'exact-scan limit (the smallest size where the graph answered faster)',
    value: measuredLimit ? `${measuredLimit} vectors` : `> ${crossover.at(-1)!.n} vectors`,
    limit: `default ${defaultExactScanLimit}`,
    verdict: 'informative',
  });
for (const size of values.sizes.split(',').map(Number)) {
  let m: Measured;
  try {
    m = await runSize(size);
  } catch (error) {
    rows.push({ measure: `${size} vectors`, value: String(error), verdict: 'failed' });
    continue;
  }
  const memory = m.rssDelta + m.mappedNotResident;
  rows.push(
    {
      measure: `${m.n}: index memory (RSS delta${m.mappedNotResident > 0 ? ' + mapped graph not resident' : ''}; peak during builds ${gb(m.peakRssDelta)})`,
      value: gb(memory),
      limit: m.n === memoryBarVectors ? '4 GiB' : `${(memory / m.n).toFixed(0)} bytes per vector`,
      ratio: m.n === memoryBarVectors ? (memory / memoryBarBytes).toFixed(2) : '',
      bar:
        m.n === memoryBarVectors
          ? '≤ 4 GiB at 1 M'
          : 'informative (the bar is at 1 M; fixed costs dominate here)',
      verdict: m.n === memoryBarVectors ? (memory <= memoryBarBytes ? 'pass' : 'miss') : '',
    },
    {
      measure: `${m.n}: searchable build (upserts, log commits, graph builds in the worker)`,
      value: `${m.buildSeconds.toFixed(1)} s = ${Math.round(m.n / m.buildSeconds)} vectors/s (graph ${m.graphSeconds.toFixed(1)} s)`,
      bar: 'informative',
    },
    {
      measure: `${m.n}: search by image id, k = 10, p50 / p99`,
      value: `${ms(m.p50)} / ${ms(m.p99)}`,
      bar: 'informative',
    },
    {
      measure: `${m.n}: recall@10 (mean over ${queryCount} queries; worst ${m.worst.toFixed(1)}; calibrated ef ${m.ef ?? 'none: exact scan'})`,
      value: m.recall.toFixed(4),
      limit: 'exact search, same vectors (1.0)',
      ratio: m.recall.toFixed(4),
      bar: '≥ 0.98',
      verdict: m.recall >= 0.98 ? 'pass' : 'miss',
    },
    ...m.byEf.map((e) => ({
      measure: `${m.n}: with ef = ${e.ef} (candidates re-scored): search p50 / p99; recall@10 (worst ${e.worst.toFixed(1)})`,
      value: `${ms(e.p50)} / ${ms(e.p99)}; ${e.recall.toFixed(4)}`,
      limit: 'exact search, same vectors (1.0)',
      ratio: e.recall.toFixed(4),
      bar: '≥ 0.98',
      verdict: e.recall >= 0.98 ? 'pass' : 'miss',
    })),
    {
      measure: `${m.n}: disk (log ${gb(m.walBytes)}; the rest: graph + f32 vector file)`,
      value: gb(m.diskBytes),
      bar: 'informative',
    },
  );
}
await report(`Vector index scaling (${distribution}, ${dim}-d, one tenant)`, rows, [
  `Embedded index with its defaults: exact SIMD scan up to ${defaultExactScanLimit} points, above that an ${defaultHnsw.quantization} HNSW graph (M = ${defaultHnsw.connectivity}, ef_construction = ${defaultHnsw.expansionAdd}; search-time ef calibrated after each build, from ${defaultHnsw.expansionSearch} up, to recall@10 ≥ ${defaultHnsw.recallTarget} on 16 of the graph's own points) built in a worker thread, its best ${defaultHnsw.rescore} candidates re-scored with the f32 originals read from a file; points not yet in the graph kept in RAM and scanned exactly.`,
  'Each size in its own process: vectors generated 10 % at a time (or 10 k), upserted 500 per call, committed to the log every 10 k, then the graph brought up to date (`settleGraphs`) before the next 10 %. Memory: RSS after the build and the searches minus RSS before opening the index (after a GC), plus the part of the mapped graph file not resident; the peak is sampled every 100 ms.',
  `Search: ${queryCount} queries (stored vectors, k + 1 asked, the query itself left out) × 3 rounds, the first one not timed; recall against usearch \`exactSearch\` over every vector. Up to ${defaultExactScanLimit} points (exact scan) and in the exact-scan limit's rows the searches go to a follower of the writer's commits, as the read API's (its RAM counted in the memory row); above, to the writer (the same graph file and re-scoring a follower would use).`,
]);
