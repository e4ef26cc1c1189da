/**
 * Throughput probe for the default model, to choose `intraOpThreads` and the batch size:
 *
 *   npx tsx embedder/src/measureModelThroughput.ts [--rounds 3]
 *
 * For intra-op threads 1 and 2 it prints ms per image one at a time and images/s for batches of
 * 8, 16 and 32, both for inference alone (a ready tensor) and end to end (`embed()` on JPEG
 * bytes: sharp decode and resize + inference + pooling). Not a test: numbers depend on the machine.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { buildDefaultModel } from './buildDefaultModel.ts';
import { loadEmbeddingModel } from './onnxEmbeddingModel.ts';

const batchSizes = [8, 16, 32];
const roundsArg = process.argv.indexOf('--rounds');
const rounds = roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : 3;

const { manifest } = await buildDefaultModel();
const photoDir = join(import.meta.dirname, '..', 'fixtures', 'photos');
const photos = await Promise.all(
  (await readdir(photoDir)).filter((f) => f.endsWith('.jpg')).map((f) => readFile(join(photoDir, f))),
);
const images = (count: number) => Array.from({ length: count }, (_, i) => photos[i % photos.length]!);
const { width, height } = manifest.input;

async function timeIt(run: () => Promise<unknown>): Promise<number> {
  await run(); // warm-up
  const started = performance.now();
  for (let r = 0; r < rounds; r++) await run();
  return (performance.now() - started) / rounds;
}

console.log(
  `model ${manifest.modelId}@${manifest.modelVersion}, ${width}×${height}, ${rounds} rounds after a warm-up`,
);
console.log(
  'threads | what         | single ms/image | ' + batchSizes.map((b) => `batch ${b} img/s`).join(' | '),
);
for (const threads of [1, 2]) {
  const session = await ort.InferenceSession.create(manifest.file, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const tensor = (n: number) =>
    new ort.Tensor('float32', new Float32Array(n * 3 * width * height).fill(0.5), [n, 3, height, width]);
  const single = tensor(1);
  const inferenceSingle = await timeIt(async () => {
    for (let i = 0; i < 8; i++) await session.run({ [manifest.inputName]: single });
  });
  const inferenceBatched: number[] = [];
  for (const b of batchSizes) {
    const input = tensor(b);
    const ms = await timeIt(() => session.run({ [manifest.inputName]: input }));
    inferenceBatched.push((b * 1000) / ms);
  }
  await session.release();

  const model = await loadEmbeddingModel(manifest, { intraOpThreads: threads, maxBatchSize: 32 });
  const endToEndSingle = await timeIt(async () => {
    for (const image of images(8)) await model.embed([image]);
  });
  const endToEndBatched: number[] = [];
  for (const b of batchSizes) {
    const batch = images(b);
    const ms = await timeIt(() => model.embed(batch));
    endToEndBatched.push((b * 1000) / ms);
  }
  await model.close();

  const row = (what: string, singleMs: number, perSecond: number[]) =>
    `${String(threads).padStart(7)} | ${what.padEnd(12)} | ${(singleMs / 8).toFixed(1).padStart(15)} | ` +
    perSecond.map((v, i) => v.toFixed(1).padStart(`batch ${batchSizes[i]} img/s`.length)).join(' | ');
  console.log(row('inference', inferenceSingle, inferenceBatched));
  console.log(row('end to end', endToEndSingle, endToEndBatched));
}
