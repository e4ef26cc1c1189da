/**
 * Search over HTTP against the same server's floor (issue #18): the read API's
 * `POST /v1/search {imageId, k: 10}` at 1 client (p50, p99) and at 32 clients (throughput), each
 * next to the same read API's `GET /healthz` measured in the same run, interleaved in rounds so
 * both see the same load; and search by upload (a query image embedded by the read API) at 1
 * client. Every DeepLens process on the search path runs as its own process (`startDeepLens`);
 * the index is built by ingesting real photos first.
 *   npx tsx bench/searchHttp.ts [images=48] [--profile]
 * `--profile` runs the processes with a V8 sampling profiler over 640 more searches by id
 * (`rerank: none`, 32 clients) after the measured rounds, and prints their hottest functions.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startDeepLens } from '@deeplens/platform/testing/deeplensProcesses';
import { benchPhotos } from './benchImages.ts';
import {
  closedLoop,
  latencySummary,
  ms,
  report,
  scope,
  windowedCpuProfiles,
  withCpuAccounting,
  type Row,
} from './benchSupport.ts';
import {
  api,
  benchTenant,
  countIndexed,
  deleteTopicsWithPrefix,
  json,
  processNameOf,
  uploadImage,
} from './deeplensApi.ts';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const profile = process.argv.includes('--profile');
const imageCount = Number(args[0] ?? 48);
const manyClients = 32;
const rounds = 4;
/** Per round and side at 1 client; the enterprise plan's 6 000 request units a minute bound the total. */
const oneClientPerRound = 100;
const manyClientsPerRound = 160;
const uploadQueries = 40;
const bars = { p50: 2, p99: 3, throughput: 0.5, uploadP99Ms: 150 };

type Phase = { latencies: number[]; seconds: number };

/**
 * `rounds` rounds of each side in turn (the floor first), so a load change on the shared machine
 * weighs on all of them; latencies pooled, throughput from the summed wall time of each side.
 */
async function interleaved(
  concurrency: number,
  sides: { name: string; perRound: number; call: (i: number) => Promise<void> }[],
): Promise<Map<string, Phase>> {
  const out = new Map(sides.map((side) => [side.name, { latencies: [] as number[], seconds: 0 }]));
  for (let round = 0; round < rounds; round++) {
    for (const { name, perRound, call } of sides) {
      const phase = out.get(name)!;
      const start = performance.now();
      phase.latencies.push(...(await closedLoop(concurrency, perRound, (i) => call(round * perRound + i))));
      phase.seconds += (performance.now() - start) / 1000;
    }
  }
  return out;
}

const s = scope();
try {
  const photos = await benchPhotos(imageCount);
  const profiles = await windowedCpuProfiles(profile);
  const topics: { prefix?: string } = {};
  // Registered before the processes start, so it runs after they have stopped.
  s.after(() => (topics.prefix ? deleteTopicsWithPrefix(topics.prefix) : undefined));
  const deeplens = await startDeepLens(s, {
    processes: ['write-api', 'relay', 'embedder', 'projectors', 'read-api'],
    env: profiles.env,
  });
  topics.prefix = deeplens.env.KAFKA_TOPIC_PREFIX!;
  const marker = `KAFKA_TOPIC_PREFIX=${topics.prefix}`;

  const tenant = await benchTenant(deeplens, 'bench-search-http');
  const ids: string[] = [];
  await closedLoop(4, photos.length, async (i) => {
    ids.push(await uploadImage(tenant.write, photos[i]!, `photo-${i}.jpg`));
  });
  const deadline = Date.now() + 600_000;
  while ((await countIndexed(tenant.read)) < photos.length) {
    if (Date.now() > deadline) throw new Error(`${photos.length} images not indexed in 10 minutes`);
    await sleep(250);
  }

  const health = api(deeplens.readUrl);
  const healthz = async () => void (await json(await health('GET', '/healthz')));
  const k = Math.min(10, ids.length - 1);
  // The route's own time as the read API reports it (`tookMs`: from the handler's start to the
  // answer built; no middleware, no HTTP), to tell the server's share from the rest.
  const tookMs = { none: [] as number[], geometric: [] as number[] };
  const searchById = (rerank: 'none' | 'geometric') => async (i: number) => {
    const body = await json<{ hits: unknown[]; tookMs: number }>(
      await tenant.read('POST', '/v1/search', { imageId: ids[(i * 7919) % ids.length], k, rerank }),
    );
    if (body.hits.length !== k) throw new Error(`expected ${k} hits, got ${body.hits.length}`);
    tookMs[rerank].push(body.tookMs);
  };
  const searchByUpload = async (i: number) => {
    const form = new FormData();
    form.append('file', new Blob([photos[i % photos.length]!], { type: 'image/jpeg' }), 'query.jpg');
    form.append('k', String(k));
    const body = await json<{ hits: { imageId: string }[] }>(await tenant.read('POST', '/v1/search', form));
    if (body.hits.length === 0) throw new Error('a search by upload found nothing');
  };
  // Warm-up: connections, JIT, caches.
  for (let i = 0; i < 40; i++) {
    await healthz();
    await searchById('none')(i);
    if (i % 4 === 0) await searchById('geometric')(i);
  }
  await searchByUpload(0);

  const sides = (perRound: number) => [
    { name: 'healthz', perRound, call: healthz },
    { name: 'none', perRound, call: searchById('none') },
    { name: 'geometric', perRound: Math.ceil(perRound / 4), call: searchById('geometric') },
  ];
  tookMs.none.length = tookMs.geometric.length = 0;
  const one = await interleaved(1, sides(oneClientPerRound));
  const routeTime = { none: latencySummary(tookMs.none), geometric: latencySummary(tookMs.geometric) };
  const many = await withCpuAccounting(marker, () => interleaved(manyClients, sides(manyClientsPerRound)));
  const upload = latencySummary(await closedLoop(1, uploadQueries, searchByUpload));
  if (profile) {
    // Profiled apart from the measured rounds: searches by id without re-ranking only.
    await profiles.start(marker);
    await closedLoop(manyClients, 640, searchById('none'));
    profiles.stop();
  }

  const verdict = (pass: boolean) => (pass ? 'pass' : 'miss');
  const rateOf = (phase: Phase) => phase.latencies.length / phase.seconds;
  const floor1 = latencySummary(one.get('healthz')!.latencies);
  const floorMany = many.result.get('healthz')!;
  const floorRate = rateOf(floorMany);
  const floorManySummary = latencySummary(floorMany.latencies);
  const rows: Row[] = [
    {
      measure: 'GET /healthz p50 / p99, 1 client (floor)',
      value: `${ms(floor1.p50)} / ${ms(floor1.p99)}`,
    },
    {
      measure: `GET /healthz, ${manyClients} clients (floor): throughput, p50 / p99`,
      value: `${floorRate.toFixed(0)} req/s, ${ms(floorManySummary.p50)} / ${ms(floorManySummary.p99)}`,
    },
  ];
  for (const rerank of ['none', 'geometric'] as const) {
    const label = `POST /v1/search {imageId, k: ${k}, rerank: ${rerank}}`;
    const single = latencySummary(one.get(rerank)!.latencies);
    const phase = many.result.get(rerank)!;
    const rate = rateOf(phase);
    const summary = latencySummary(phase.latencies);
    const p50Ratio = single.p50 / floor1.p50;
    const p99Ratio = single.p99 / floor1.p99;
    const rateRatio = rate / floorRate;
    rows.push(
      {
        measure: `${label} p50, 1 client`,
        value: ms(single.p50),
        limit: `${ms(floor1.p50)} (/healthz p50)`,
        ratio: p50Ratio.toFixed(2),
        bar: `≤ ${bars.p50}`,
        verdict: verdict(p50Ratio <= bars.p50),
      },
      {
        measure: `${label} p99, 1 client`,
        value: ms(single.p99),
        limit: `${ms(floor1.p99)} (/healthz p99)`,
        ratio: p99Ratio.toFixed(2),
        bar: `≤ ${bars.p99}`,
        verdict: verdict(p99Ratio <= bars.p99),
      },
      {
        measure: `${label}: the route's own time (\`tookMs\`) p50 / p99, 1 client`,
        value: `${ms(routeTime[rerank].p50)} / ${ms(routeTime[rerank].p99)}`,
      },
      {
        measure: `${label}, ${manyClients} clients: throughput (p50 / p99)`,
        value: `${rate.toFixed(0)} req/s (${ms(summary.p50)} / ${ms(summary.p99)})`,
        limit: `${floorRate.toFixed(0)} req/s (/healthz)`,
        ratio: rateRatio.toFixed(2),
        bar: `≥ ${bars.throughput}`,
        verdict: verdict(rateRatio >= bars.throughput),
      },
    );
  }
  const requestsMany = [...many.result.values()].reduce((sum, phase) => sum + phase.latencies.length, 0);
  rows.push(
    {
      measure: `CPU over the ${manyClients}-client rounds (${requestsMany} requests)`,
      value: [...many.cpu].map(([entry, cpu]) => `${processNameOf(entry)} ${cpu.toFixed(2)} s`).join(', '),
    },
    {
      measure: `POST /v1/search by upload (multipart JPEG 640×480, k ${k}) p50 / p99, 1 client`,
      value: `${ms(upload.p50)} / ${ms(upload.p99)}`,
      bar: `context: issue #15's p99 ≤ ${bars.uploadP99Ms} ms`,
      verdict: verdict(upload.p99 <= bars.uploadP99Ms),
    },
  );
  await report(`Search over HTTP against the same server's /healthz (${ids.length} images indexed)`, rows, [
    `Write API, relay, embedder, projectors and read API as separate processes (\`startDeepLens\`) against the running stack, on the shared 2-core machine; the bench client runs on the same cores.`,
    `Closed loop, ${rounds} interleaved rounds of /healthz, search by id without and with geometric re-ranking (${oneClientPerRound}, ${oneClientPerRound}, ${Math.ceil(oneClientPerRound / 4)} requests per round at 1 client; ${manyClientsPerRound}, ${manyClientsPerRound}, ${Math.ceil(manyClientsPerRound / 4)} at ${manyClients}); a signed-in tenant user's access token; authentication, the plan's rate limit, tenant scoping, the stored query's hash (and features), the vector search, one metadata query for the hits and the JSON answer included.`,
    'rerank geometric (the default for a search by id or image) verifies the fused top 10 candidates with local features (issue #15): its cost is the matching of 500 × 500 ORB descriptors per candidate.',
    `Search by upload: ${uploadQueries} queries, each image embedded by the read API's model (descriptor, hash and local features) and geometrically re-ranked.`,
  ]);
  await profiles.print(processNameOf);
} finally {
  await s.close();
}
