/**
 * Ingest: real photos uploaded through the write API by concurrent clients until every one is
 * `indexed` (searchable), with every DeepLens process running as its own process
 * (`startDeepLens`), next to the raw ONNX model's images/s on the same images in the same run.
 * Then the read API's search by image id over HTTP on the index just built.
 *   npx tsx bench/ingest.ts [images=300] [clients=8] [--phones=40] [--profile]
 * Two sets, each in its own tenant: `images` photos of 640×480 and `--phones` phone-like
 * photos of 4000×3000 (3–5 MB JPEGs; 0 leaves them out), each against the raw model on the
 * same images.
 * `--profile` runs every DeepLens process with `node --cpu-prof` and prints where each spent
 * its CPU.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { buildDefaultModel } from '@deeplens/embedder/buildDefaultModel';
import { loadEmbeddingModel } from '@deeplens/embedder/onnxEmbeddingModel';
import {
  deeplensEntryPoints,
  startDeepLens,
  type DeepLensProcessName,
} from '@deeplens/platform/testing/deeplensProcesses';
import { benchPhotos, phonePhotos } from './benchImages.ts';
import {
  closedLoop,
  latencySummary,
  ms,
  ownCpuSeconds,
  processCpuSeconds,
  report,
  scope,
  type Row,
  windowedCpuProfiles,
} from './benchSupport.ts';
import {
  api,
  benchTenant,
  countIndexed,
  deleteTopicsWithPrefix,
  json,
  processNameOf,
  scrapeMetric,
  uploadImage,
} from './deeplensApi.ts';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const profile = process.argv.includes('--profile');
const count = Number(args[0] ?? 300);
const clients = Number(args[1] ?? 8);
const phoneCount = Number(
  process.argv.find((a) => a.startsWith('--phones='))?.slice('--phones='.length) ?? 40,
);
const warmupCount = 16;
const batch = 16;

type PhotoSet = { title: string; photos: Buffer[]; slug: string };
type RawRun = { seconds: number; cpu: number };

const s = scope();
try {
  const photos = await benchPhotos(count + warmupCount);
  const warmup = photos.slice(count);
  // Phone photos: 4000×3000 JPEGs of 3–5 MB; two more warm the embedder's large-image path.
  const phones = phoneCount > 0 ? await phonePhotos(phoneCount + 2) : [];
  const sets: PhotoSet[] = [
    { title: `${count} photos of 640×480`, photos: photos.slice(0, count), slug: 'bench-ingest' },
    ...(phoneCount > 0
      ? [
          {
            title: `${phoneCount} phone photos of 4000×3000 (${(phones.slice(0, phoneCount).reduce((n, b) => n + b.length, 0) / phoneCount / 1e6).toFixed(1)} MB mean JPEG)`,
            photos: phones.slice(0, phoneCount),
            slug: 'bench-ingest-phones',
          },
        ]
      : []),
  ];

  // The limit: the raw model on the same images, decoded and batched as the embedder batches.
  const model = await loadEmbeddingModel((await buildDefaultModel()).manifest);
  s.after(() => model.close());
  await model.embed(warmup);
  const measureRaw = async (images: Buffer[]): Promise<RawRun> => {
    const start = performance.now();
    const cpuStart = ownCpuSeconds();
    for (let i = 0; i < images.length; i += batch) await model.embed(images.slice(i, i + batch));
    return { seconds: (performance.now() - start) / 1000, cpu: ownCpuSeconds() - cpuStart };
  };
  // Measured before DeepLens starts and again after it has stopped: the machine is shared, and
  // the mean of the two brackets the load the end-to-end run saw.
  const rawBefore: RawRun[] = [];
  for (const set of sets) rawBefore.push(await measureRaw(set.photos));

  const profiles = await windowedCpuProfiles(profile);
  const topics: { prefix?: string } = {};
  // Registered before the processes start, so it runs after they have stopped.
  s.after(() => (topics.prefix ? deleteTopicsWithPrefix(topics.prefix) : undefined));
  const deeplens = await startDeepLens(s, {
    env: profiles.env,
  });
  topics.prefix = deeplens.env.KAFKA_TOPIC_PREFIX!;
  const marker = `KAFKA_TOPIC_PREFIX=${topics.prefix}`;

  // Warm-up in its own tenant: the embedder's first batch, JIT, connection pools.
  const warm = await benchTenant(deeplens, 'bench-warmup');
  const warmPhotos = [...warmup, ...phones.slice(phoneCount)];
  for (const [i, bytes] of warmPhotos.entries()) await uploadImage(warm.write, bytes, `warm-${i}.jpg`);
  await waitUntil(async () => (await countIndexed(warm.read)) === warmPhotos.length, 180_000, 'warm-up');

  const embedderMetrics = async () => {
    const url = deeplens.metricsUrls.embedder;
    const [images, batches, seconds] = await Promise.all(
      ['_sum', '_count']
        .map((suffix) => scrapeMetric(url, `deeplens_embedding_batch_size${suffix}`))
        .concat(scrapeMetric(url, 'deeplens_embedding_latency_seconds_sum')),
    );
    return { images: images!, batches: batches!, seconds: seconds! };
  };

  /** One set uploaded by `clients` closed-loop clients into its own tenant, timed until all are indexed. */
  async function ingest(set: PhotoSet, profiled: boolean) {
    const measured = set.photos;
    const tenant = await benchTenant(deeplens, set.slug);
    const embedderBefore = await embedderMetrics();
    if (profiled) await profiles.start(marker);
    const cpuBefore = await processCpuSeconds(marker);
    const ownBefore = ownCpuSeconds();
    const start = performance.now();
    let uploadsDone = 0;
    const ids: string[] = [];
    const uploading = closedLoop(clients, measured.length, async (i) => {
      ids.push(await uploadImage(tenant.write, measured[i]!, `photo-${i}.jpg`));
    }).then((latencies) => {
      uploadsDone = performance.now();
      return latencies;
    });
    let indexed = 0;
    // Ten minutes, or 200 ms per image for large runs (the 10 k ingest of the scaling table);
    // the listing is polled less often as it grows (one page per 500 images).
    const allowedMs = Math.max(600_000, measured.length * 200);
    const pollMs = pollMsOf(measured.length);
    const deadline = Date.now() + allowedMs;
    while (indexed < measured.length) {
      if (Date.now() > deadline)
        throw new Error(
          `only ${indexed}/${measured.length} images indexed in ${Math.round(allowedMs / 60_000)} minutes (${set.title}); the processes' last warnings and errors:\n${deeplens.output
            .filter((line) => /"level":"(warn|error|fatal)"|rror/.test(line))
            .slice(-40)
            .join('\n')}`,
        );
      await sleep(pollMs);
      indexed = await countIndexed(tenant.read);
    }
    const seconds = (performance.now() - start) / 1000;
    const uploadLatencies = latencySummary(await uploading);
    const cpuAfter = await processCpuSeconds(marker);
    const embedderAfter = await embedderMetrics();
    if (profiled) profiles.stop();
    const ownCpu = ownCpuSeconds() - ownBefore;
    const batches = embedderAfter.batches - embedderBefore.batches;
    const cpuRows = [...cpuAfter]
      .filter(([entry]) => entry.endsWith('.ts'))
      .map(([entry, after]) => [processNameOf(entry), after - (cpuBefore.get(entry) ?? 0)] as const)
      .concat([['bench client (uploads + polling)', ownCpu]])
      .sort((a, b) => b[1] - a[1]);
    return {
      tenant,
      ids,
      seconds,
      uploadsSeconds: (uploadsDone - start) / 1000,
      uploadLatencies,
      batches,
      meanBatch: (embedderAfter.images - embedderBefore.images) / batches,
      inferenceSeconds: embedderAfter.seconds - embedderBefore.seconds,
      cpuRows,
      cpuTotal: cpuRows.reduce((sum, [, cpu]) => sum + cpu, 0),
    };
  }

  const runs = [];
  for (const [i, set] of sets.entries()) runs.push(await ingest(set, i === 0));
  const { tenant, ids } = runs[0]!;

  // Search by image id over HTTP on the index just built (small: the images above).
  const readHealth = api(deeplens.readUrl);
  const queries = 300;
  for (let i = 0; i < 20; i++)
    await json(await tenant.read('POST', '/v1/search', { imageId: ids[i % ids.length], k: 10 }));
  const httpRows: Row[] = [];
  for (const concurrency of [1, 8]) {
    const floor = latencySummary(
      await closedLoop(
        concurrency,
        queries,
        async () => void (await json(await readHealth('GET', '/healthz'))),
      ),
    );
    const search = latencySummary(
      await closedLoop(concurrency, queries, async (i) => {
        const body = await json<{ hits: unknown[] }>(
          await tenant.read('POST', '/v1/search', { imageId: ids[(i * 7919) % ids.length], k: 10 }),
        );
        if (body.hits.length !== 10) throw new Error(`expected 10 hits, got ${body.hits.length}`);
      }),
    );
    httpRows.push(
      {
        measure: `GET /healthz p50 / p99, ${concurrency} client(s) (floor)`,
        value: `${ms(floor.p50)} / ${ms(floor.p99)}`,
      },
      {
        measure: `POST /v1/search {imageId, k: 10} p50 / p99, ${concurrency} client(s)`,
        value: `${ms(search.p50)} / ${ms(search.p99)}`,
        limit: ms(floor.p99),
        ratio: (search.p99 / floor.p99).toFixed(1),
        bar: 'informative (the 10 ms bar is for the index at 100 k: `bench/search.ts`)',
      },
    );
  }
  for (const name of Object.keys(deeplensEntryPoints) as DeepLensProcessName[])
    await deeplens.stop(name, { graceful: true });
  for (const [i, set] of sets.entries()) {
    const rawAfter = await measureRaw(set.photos);
    const measured = set.photos;
    const run = runs[i]!;
    const rawSeconds = (rawBefore[i]!.seconds + rawAfter.seconds) / 2;
    const rawCpu = (rawBefore[i]!.cpu + rawAfter.cpu) / 2;
    const rawPerSecond = measured.length / rawSeconds;
    const endToEnd = measured.length / run.seconds;
    const ratio = endToEnd / rawPerSecond;
    const cpuRatio = run.cpuTotal / rawCpu;
    const perImage = (seconds: number) => ms((1000 * seconds) / measured.length);
    await report(
      `Ingest end to end (${set.title}, ${clients} concurrent clients)`,
      [
        {
          measure: `raw ONNX model, batches of ${batch} (decode + inference)`,
          value: `${rawPerSecond.toFixed(1)} img/s (before ${(measured.length / rawBefore[i]!.seconds).toFixed(1)}, after ${(measured.length / rawAfter.seconds).toFixed(1)})`,
        },
        {
          measure: 'upload → indexed, every DeepLens process running',
          value: `${endToEnd.toFixed(1)} img/s`,
          limit: `${rawPerSecond.toFixed(1)} img/s`,
          ratio: ratio.toFixed(2),
          bar: '≥ 0.60',
          verdict: ratio >= 0.6 ? 'pass' : 'miss',
        },
        {
          measure: 'all uploads accepted (202) after',
          value: `${run.uploadsSeconds.toFixed(1)} s of ${run.seconds.toFixed(1)} s`,
        },
        {
          measure: 'upload 202 latency p50 / p99',
          value: `${ms(run.uploadLatencies.p50)} / ${ms(run.uploadLatencies.p99)}`,
        },
        {
          measure: 'embedder: inference batches, mean images per batch, time in inference',
          value: `${run.batches} batches, ${run.meanBatch.toFixed(1)} images, ${run.inferenceSeconds.toFixed(1)} s (${(measured.length / run.inferenceSeconds).toFixed(1)} img/s while inferring)`,
          limit: `batches of ${batch}: ${rawSeconds.toFixed(1)} s`,
        },
        {
          measure: 'CPU per image: raw model (decode + inference, all threads)',
          value: perImage(rawCpu),
        },
        ...run.cpuRows.map(([name, cpu]): Row => ({
          measure: `CPU per image: ${name}`,
          value: `${perImage(cpu)} (${((100 * cpu) / run.cpuTotal).toFixed(0)}%)`,
        })),
        {
          measure: 'CPU per image: every DeepLens process + the client',
          value: perImage(run.cpuTotal),
          limit: `${perImage(rawCpu)} (raw model)`,
          ratio: cpuRatio.toFixed(2),
          bar: '≤ 1.60',
          verdict: cpuRatio <= 1.6 ? 'pass' : 'miss',
        },
        {
          measure: 'cores used by DeepLens + client during the run',
          value: `${(run.cpuTotal / run.seconds).toFixed(2)} of 2`,
        },
      ],
      [
        'Processes as a user runs them (`startDeepLens`: write API, relay, intake, eraser, embedder, projectors, read API), each a separate Node process on the shared 2-core machine, against the running stack (Kafka, Apicurio, PostgreSQL, S3Proxy also on these cores). Other engineers’ test runs compete for the same cores.',
        'The raw model runs in this process before DeepLens starts and again after it has stopped; the limit is their mean. Its decode shrinks straight to the model’s input; the embedder also decodes for local features (512 px) and the thumbnail.',
        `Timed from the first upload to the moment the read API lists all ${measured.length} as \`indexed\` (polled every ${pollMsOf(measured.length)} ms), in a tenant of its own; ${warmPhotos.length} warm-up images in another tenant first.`,
      ],
    );
  }

  await report(`Read API search by image id over HTTP (${ids.length} images in the tenant)`, httpRows, [
    `${queries} queries per row, closed loop; authentication, tenant scoping, vector lookup, HNSW search and the JSON answer included.`,
  ]);

  await profiles.print(processNameOf);
} finally {
  await s.close();
}

/** How often the listing is polled for `n` images: every 250 ms, less often past 2 500 images. */
function pollMsOf(n: number): number {
  return Math.max(250, Math.round(n / 10));
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not finish in ${timeoutMs} ms`);
    await sleep(250);
  }
}
