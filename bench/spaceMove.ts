/**
 * Moving a running installation to another embedding space (issue 15: "a tenant with 100 000
 * images must be movable within the time the embedder needs for 100 000 images plus 10%"):
 * N photos ingested into v1 (the backbone space) by every DeepLens process, then the documented
 * command (`embeddingSpaceMoveMain.ts start <v2 manifest>`) timed until `status` would exit 0
 * (every live image embedded in v2 and indexed there, the same check `status` makes, polled
 * in-process every 250 ms; `status` itself is run once at the end), while one client searches by
 * upload back to back. The limit: the raw v2 model on the same images in the same run (decode +
 * inference, batches of 16, as `bench/ingest.ts` measures it), before DeepLens starts and after it
 * has stopped.
 *   npx tsx bench/spaceMove.ts [images=300] [--profile]
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildDefaultModel } from '@deeplens/embedder/buildDefaultModel';
import { embeddingSpaceMoveProgress, spaceName } from '@deeplens/embedder/embeddingSpaceMove';
import { loadEmbeddingModel } from '@deeplens/embedder/onnxEmbeddingModel';
import { loadConfig } from '@deeplens/platform/config';
import { createDatabasePool } from '@deeplens/platform/database';
import {
  deeplensEntryPoints,
  startDeepLens,
  type DeepLensProcessName,
} from '@deeplens/platform/testing/deeplensProcesses';
import { benchPhotos } from './benchImages.ts';
import {
  benchDir,
  closedLoop,
  latencySummary,
  ms,
  ownCpuSeconds,
  processCpuSeconds,
  report,
  scope,
  windowedCpuProfiles,
} from './benchSupport.ts';
import {
  benchTenant,
  countIndexed,
  deleteTopicsWithPrefix,
  processNameOf,
  uploadImage,
} from './deeplensApi.ts';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const profile = process.argv.includes('--profile');
const count = Number(args[0] ?? 300);
const batch = 16;
const bar = 1.1;
const repoRoot = join(benchDir, '..');

function moveCommand(env: Record<string, string>, ...argv: string[]): Promise<{ code: number; out: string }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'embedder/src/embeddingSpaceMoveMain.ts', ...argv],
    {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code: code ?? -1, out })));
}

const s = scope();
try {
  const { manifest: v2, backbone: v1, backboneManifestPath, manifestPath } = await buildDefaultModel();
  const photos = await benchPhotos(count + 16);
  const measured = photos.slice(0, count);
  const warmup = photos.slice(count);

  // The limit: the raw target (v2) model on the same images.
  const model = await loadEmbeddingModel(v2);
  s.after(() => model.close());
  await model.embed(warmup);
  const measureRaw = async () => {
    const start = performance.now();
    const cpuStart = ownCpuSeconds();
    for (let i = 0; i < measured.length; i += batch) await model.embed(measured.slice(i, i + batch));
    return { seconds: (performance.now() - start) / 1000, cpu: ownCpuSeconds() - cpuStart };
  };
  const rawBefore = await measureRaw();

  const profiles = await windowedCpuProfiles(profile);
  const topics: { prefix?: string } = {};
  s.after(() => (topics.prefix ? deleteTopicsWithPrefix(topics.prefix) : undefined));
  // A v1 installation, as `embeddingSpaceMove.e2e.test.ts` starts it.
  const deeplens = await startDeepLens(s, {
    processes: ['write-api', 'relay', 'embedder', 'projectors', 'read-api'],
    env: { ...profiles.env, EMBEDDER_MODEL_MANIFEST: backboneManifestPath },
  });
  topics.prefix = deeplens.env.KAFKA_TOPIC_PREFIX!;
  const marker = `KAFKA_TOPIC_PREFIX=${topics.prefix}`;
  const pool = await createDatabasePool(loadConfig({ ...process.env, ...deeplens.env }));
  s.after(() => pool.end());

  const tenant = await benchTenant(deeplens, 'bench-space-move');
  const ids: string[] = [];
  const ingestStart = performance.now();
  await closedLoop(8, measured.length, async (i) => {
    ids[i] = await uploadImage(tenant.write, measured[i]!, `photo-${i}.jpg`);
  });
  for (const deadline = Date.now() + 900_000; (await countIndexed(tenant.read)) < measured.length;) {
    if (Date.now() > deadline)
      throw new Error(`the ${measured.length} photos were not indexed in v1 in 15 minutes`);
    await sleep(500);
  }
  // The embedder's time for these images as the running system spends it (upload → indexed in v1:
  // the same decode, backbone, hash, local features and thumbnail; v2 adds GeM and whitening).
  const ingestSeconds = (performance.now() - ingestStart) / 1000;

  // One client searching by upload back to back, from before the command to the end of the move.
  type Answer = { status: number; model?: string; first?: string; expected: string; ms: number };
  const answers: Answer[] = [];
  let searching = true;
  const searchOnce = async (i: number): Promise<Answer> => {
    const form = new FormData();
    form.append('file', new Blob([measured[i]!], { type: 'image/jpeg' }), 'query.jpg');
    form.append('k', '3');
    const started = performance.now();
    const response = await tenant.read('POST', '/v1/search', form);
    const elapsed = performance.now() - started;
    if (response.status !== 200) {
      await response.text();
      return { status: response.status, expected: ids[i]!, ms: elapsed };
    }
    const body = (await response.json()) as {
      model: { modelId: string; modelVersion: string };
      hits: { imageId: string }[];
    };
    return {
      status: 200,
      model: spaceName(body.model),
      first: body.hits[0]?.imageId,
      expected: ids[i]!,
      ms: elapsed,
    };
  };
  // The read API's copy of the index follows the projection's commits on its timer: every
  // original answers itself before the clock starts.
  for (let i = 0; i < 8; i++) await searchOnce((i * 37) % measured.length);
  const searches = (async () => {
    for (let i = 0; searching; i++) answers.push(await searchOnce((i * 7919) % measured.length));
  })();

  const progress = async () => {
    const [p] = await embeddingSpaceMoveProgress(pool, v2, tenant.id);
    return p ?? { active: 0, embedded: 0, missing: Number.POSITIVE_INFINITY };
  };
  if (profile) await profiles.start(marker);
  const cpuBefore = await processCpuSeconds(marker);
  const started = performance.now();
  const start = await moveCommand(deeplens.env, 'start', manifestPath);
  if (start.code !== 0) throw new Error(`the move did not start: ${start.out}`);
  const commandSeconds = (performance.now() - started) / 1000;
  let firstEmbedded: number | undefined;
  for (const deadline = Date.now() + 3_600_000; ; await sleep(250)) {
    const p = await progress();
    if (firstEmbedded === undefined && p.embedded > 0) firstEmbedded = performance.now();
    if (p.active === measured.length && p.embedded === p.active && p.missing === 0) break;
    if (Date.now() > deadline) throw new Error(`the move did not complete in an hour: ${JSON.stringify(p)}`);
  }
  const completedAt = performance.now();
  // Where the start-up goes: the embedder's own log lines, timed from the command.
  const startedWallClock = Date.now() - (completedAt - started);
  const startupSteps = deeplens.output
    .filter((line) => line.startsWith('[embedder]'))
    .flatMap((line) => {
      try {
        const entry = JSON.parse(line.slice('[embedder] '.length)) as {
          time?: string;
          msg?: string;
          modelVersion?: string;
        };
        const at = entry.time ? Date.parse(entry.time) : Number.NaN;
        const step =
          entry.msg === 'embedding space move: embedding in the target space too'
            ? 'the embedder saw the move'
            : entry.msg === 'model loaded' && entry.modelVersion === v2.modelVersion
              ? 'the v2 model loaded'
              : undefined;
        return step && at >= startedWallClock
          ? [`${step} after ${((at - startedWallClock) / 1000).toFixed(1)} s`]
          : [];
      } catch {
        return [];
      }
    });
  const moveSeconds = (completedAt - started) / 1000;
  const cpuAfter = await processCpuSeconds(marker);
  if (profile) profiles.stop();
  searching = false;
  await searches;
  const status = await moveCommand(deeplens.env, 'status');
  const steadySeconds = (completedAt - (firstEmbedded ?? started)) / 1000;
  const cpuRows = [...cpuAfter]
    .filter(([entry]) => entry.endsWith('.ts'))
    .map(([entry, after]) => [processNameOf(entry), after - (cpuBefore.get(entry) ?? 0)] as const)
    .sort((a, b) => b[1] - a[1]);

  for (const name of Object.keys(deeplensEntryPoints) as DeepLensProcessName[])
    await deeplens.stop(name, { graceful: true }).catch(() => undefined);
  const rawAfter = await measureRaw();
  // The embedder's own work per image in the same process: descriptor, hash and local features
  // from one decode (what it records for each image), without Kafka, the write side or indexing.
  const describeStart = performance.now();
  for (let i = 0; i < measured.length; i += batch)
    await model.describeSettled(measured.slice(i, i + batch), { localFeatures: true });
  const describeSeconds = (performance.now() - describeStart) / 1000;
  const rawSeconds = (rawBefore.seconds + rawAfter.seconds) / 2;
  const rawCpu = (rawBefore.cpu + rawAfter.cpu) / 2;

  const ok = answers.filter((a) => a.status === 200 && a.first === a.expected);
  const latencies = latencySummary(answers.map((a) => a.ms));
  const ratio = moveSeconds / rawSeconds;
  const steadyRatio = steadySeconds / rawSeconds;
  const perImage = (seconds: number) => ms((1000 * seconds) / measured.length);
  await report(
    `Embedding space move v1 → v2 (${measured.length} photos of 640×480, one tenant)`,
    [
      {
        measure: `raw v2 model, batches of ${batch} (decode + inference)`,
        value: `${rawSeconds.toFixed(1)} s, ${(measured.length / rawSeconds).toFixed(1)} img/s (before ${rawBefore.seconds.toFixed(1)} s, after ${rawAfter.seconds.toFixed(1)} s)`,
      },
      {
        measure: '`start` → `status` would exit 0 (every image embedded and indexed in v2)',
        value: `${moveSeconds.toFixed(1)} s (the command itself ${commandSeconds.toFixed(1)} s)`,
        limit: `${rawSeconds.toFixed(1)} s`,
        ratio: ratio.toFixed(2),
        bar: `≤ ${bar.toFixed(2)}`,
        verdict: ratio <= bar ? 'pass' : 'miss',
      },
      {
        measure: 'the same photos ingested into v1 by the running system (8 clients, upload → indexed)',
        value: `${ingestSeconds.toFixed(1)} s`,
        limit: `move ${moveSeconds.toFixed(1)} s`,
        ratio: (moveSeconds / ingestSeconds).toFixed(2),
        bar: `≤ ${bar.toFixed(2)} (the issue's wording: the embedder's time for the images)`,
        verdict: moveSeconds / ingestSeconds <= bar ? 'pass' : 'miss',
      },
      {
        measure: 'first image embedded in v2 → complete (the per-image part, what grows with the tenant)',
        value: `${steadySeconds.toFixed(1)} s (start-up: ${(moveSeconds - steadySeconds).toFixed(1)} s: ${[...startupSteps, `the first image embedded in v2 after ${(moveSeconds - steadySeconds).toFixed(1)} s`].join(', ')})`,
        limit: `${rawSeconds.toFixed(1)} s`,
        ratio: steadyRatio.toFixed(2),
        bar: `≤ ${bar.toFixed(2)} (informative)`,
        verdict: steadyRatio <= bar ? 'pass' : 'miss',
      },
      {
        measure:
          "the embedder's description in this process, serially: descriptor + hash + local features, batches of 16",
        value: `${describeSeconds.toFixed(1)} s`,
        limit: `${rawSeconds.toFixed(1)} s (raw model)`,
        ratio: (moveSeconds / describeSeconds).toFixed(2),
        bar: 'informative: the move against it',
      },
      {
        measure: 'searches by upload during the move: 200 with the original first',
        value: `${ok.length} of ${answers.length} (${answers.filter((a) => a.model === spaceName(v1)).length} from v1, ${answers.filter((a) => a.model === spaceName(v2)).length} from v2)`,
        verdict: ok.length === answers.length && answers.length > 0 ? 'pass' : 'miss',
      },
      {
        measure: 'search by upload latency p50 / p99 during the move',
        value: `${ms(latencies.p50)} / ${ms(latencies.p99)}`,
      },
      { measure: '`status` after', value: `exit ${status.code}` },
      { measure: 'CPU per image: raw v2 model (all threads)', value: perImage(rawCpu) },
      ...cpuRows.map(([name, cpu]) => ({
        measure: `CPU per image during the move: ${name}`,
        value: perImage(cpu),
      })),
      {
        measure: 'CPU per image during the move: every DeepLens process',
        value: perImage(cpuRows.reduce((sum, [, cpu]) => sum + cpu, 0)),
        limit: `${perImage(rawCpu)} (raw model)`,
        ratio: (cpuRows.reduce((sum, [, cpu]) => sum + cpu, 0) / rawCpu).toFixed(2),
      },
    ],
    [
      ...(ok.length < answers.length
        ? [
            `Searches not answered 200 with the original first: ${answers
              .filter((a) => !(a.status === 200 && a.first === a.expected))
              .map((a) => `${a.status} ${a.model ?? ''} first ${a.first ?? '-'} expected ${a.expected}`)
              .join('; ')}.`,
          ]
        : []),
      `Processes as a user runs them (write API, relay, embedder, projectors, read API), a v1 installation (\`EMBEDDER_MODEL_MANIFEST\` = ${spaceName(v1)}); the move to ${spaceName(v2)} by the documented command. The embedder embeds in v2 what the raw model does plus the perceptual hash, the local features (ORB, in a worker thread) and records each through the write side; the projectors index it; the searches by upload (one client, back to back) share the cores.`,
      'The raw model runs in this process before DeepLens starts and after it has stopped; the limit is their mean. The 2 cores are shared with the stack and with other engineers’ runs: see the load average above.',
    ],
  );
  await profiles.print(processNameOf);
} finally {
  await s.close();
}
