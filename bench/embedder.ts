/**
 * Embedder throughput: images/s through the whole embedder (Kafka → fetch → decode → batched
 * ONNX → ImageEmbedded + thumbnail recorded through the write side) next to the raw model's
 * images/s on the same images in the same run, and the CPU time this process spends per image in
 * each (the shared machine's load changes the rates, far less the CPU per image).
 *   npx tsx bench/embedder.ts [images=240]
 */
import { join } from 'node:path';
import { createCommandHandler } from '@deeplens/commands/commandHandler';
import { limitsOf } from '@deeplens/commands/tenant/plans';
import { tenantDecider } from '@deeplens/commands/tenant/tenantDecider';
import { createWriteModelDatabase } from '@deeplens/commands/testing/writeModelDatabase';
import { imageAggregate, tenantAggregate } from '@deeplens/commands/writeModelRules';
import { buildDefaultModel } from '@deeplens/embedder/buildDefaultModel';
import { createEmbedderWorker } from '@deeplens/embedder/embedderWorker';
import { loadEmbeddingModel } from '@deeplens/embedder/onnxEmbeddingModel';
import { createEventSerde, registrySchemaStore } from '@deeplens/events/eventSerde';
import { ensureEventTopics } from '@deeplens/events/ensureEventTopics';
import { endOffsets } from '@deeplens/events/testing/readEvents';
import { topics } from '@deeplens/events/topics';
import { createKafka } from '@deeplens/platform/kafka';
import { createLogger } from '@deeplens/platform/logger';
import { embeddingBatchSize } from '@deeplens/platform/metrics';
import { fileSystemObjectStore, sha256Hex } from '@deeplens/platform/objectStore';
import { randomUUID } from '@deeplens/platform/ids';
import { createSchemaRegistry } from '@deeplens/platform/schemaRegistry';
import { createSecretBox } from '@deeplens/platform/secrets';
import { createTenantStorageResolver } from '@deeplens/platform/tenantStorage';
import { uniqueName } from '@deeplens/platform/testing/testTopics';
import { createOutboxRelay } from '@deeplens/commands/outbox/outboxRelay';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { benchPhotos } from './benchImages.ts';
import { report, scope } from './benchSupport.ts';

const count = Number(process.argv[2] ?? 240);

/** CPU time (user + system, all threads) this process has spent since `from`, in ms. */
function cpuMsSince(from: NodeJS.CpuUsage): number {
  const { user, system } = process.cpuUsage(from);
  return (user + system) / 1000;
}

const s = scope();
try {
  const photos = await benchPhotos(count);
  const manifest = (await buildDefaultModel()).manifest;
  const model = await loadEmbeddingModel(manifest);
  s.after(() => model.close());

  // The limit: the raw model on the same images, batched as the embedder batches.
  await model.embed(photos.slice(0, 16));
  const rawStart = performance.now();
  const rawCpu = process.cpuUsage();
  for (let i = 0; i < photos.length; i += 16) await model.embed(photos.slice(i, i + 16));
  const rawCpuPerImage = cpuMsSince(rawCpu) / photos.length;
  const rawPerSecond = photos.length / ((performance.now() - rawStart) / 1000);

  // The embedder: uploads recorded through the write side, relayed to Kafka, embedded.
  const { pool, config } = await createWriteModelDatabase(s);
  const handler = createCommandHandler({ pool });
  const objects = fileSystemObjectStore(await mkdtemp(join(tmpdir(), 'bench-objects-')));
  const secrets = createSecretBox(randomBytes(32));
  const storageOf = createTenantStorageResolver(config, objects, secrets);
  const tenantId = randomUUID();
  await handler.handle(
    tenantAggregate,
    {
      type: 'ProvisionTenant',
      data: { tenantId, slug: `bench-${tenantId}`, name: 'Bench', plan: 'enterprise' },
    },
    { actor: 'system:bench' },
  );
  const tenant = await handler.load(tenantDecider, tenantId);
  if (tenant.status !== 'active') throw new Error('tenant not active');
  const storage = storageOf(tenant);
  await objects.ensureBucket(storage.bucket);

  const kafka = createKafka(config, 'bench-embedder');
  const admin = kafka.admin();
  await admin.connect();
  await ensureEventTopics(admin, config.KAFKA_TOPIC_PARTITIONS);
  await admin.disconnect();
  const serde = createEventSerde(
    registrySchemaStore(createSchemaRegistry(config), config.SCHEMA_REGISTRY_URL),
  );
  const from = await endOffsets(kafka, topics.image);
  for (const bytes of photos) {
    const sha256 = sha256Hex(bytes);
    const objectKey = storage.keyOf(sha256);
    await objects.put(storage.bucket, objectKey, bytes, 'image/jpeg');
    await handler.handle(
      imageAggregate,
      {
        type: 'UploadImage',
        data: {
          tenantId,
          imageId: randomUUID(),
          objectKey,
          sha256,
          mime: 'image/jpeg',
          bytes: bytes.length,
          width: 640,
          height: 480,
          filename: 'b.jpg',
          tags: [],
          attributes: {},
          source: 'http',
          tenant: { status: 'active', limits: limitsOf('enterprise') },
        },
      },
      { actor: 'system:bench' },
    );
  }
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  s.after(() => producer.disconnect());
  const relay = createOutboxRelay({ databaseUrl: config.DATABASE_URL, producer, serde });
  relay.start();
  s.after(() => relay.stop());
  while (relay.published < photos.length) await new Promise((r) => setTimeout(r, 50));

  const worker = createEmbedderWorker({
    kafka,
    serde,
    handler,
    model,
    storageOf,
    log: createLogger({ bench: 'embedder' }, 'error'),
    batchSize: config.EMBEDDER_BATCH_SIZE,
    batchWindowMs: config.EMBEDDER_BATCH_WINDOW_MS,
    maxAttempts: 3,
    thumbnailSize: 256,
    groupId: uniqueName('bench-embedder'),
    startAt: from,
  });
  const start = performance.now();
  const embedderCpu = process.cpuUsage();
  await worker.start();
  s.after(() => worker.stop());
  // `start` returns once the consumer has joined its group: the steady state starts here.
  const joined = performance.now();
  while (worker.counts.embedded + worker.counts.failed < photos.length)
    await new Promise((r) => setTimeout(r, 20));
  const steadyPerSecond = photos.length / ((performance.now() - joined) / 1000);
  const embedderCpuPerImage = cpuMsSince(embedderCpu) / photos.length;
  const batchSizes = (await embeddingBatchSize.get()).values;
  const batchCount = batchSizes.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
  const meanBatch = photos.length / batchCount;
  const embedderPerSecond = photos.length / ((performance.now() - start) / 1000);

  const ratio = embedderPerSecond / rawPerSecond;
  await report(`Embedder throughput (${photos.length} images of 640×480)`, [
    {
      measure: 'raw ONNX model, batches of 16 (decode + inference)',
      value: `${rawPerSecond.toFixed(1)} img/s`,
    },
    {
      measure: 'raw ONNX model: CPU per image (this process)',
      value: `${rawCpuPerImage.toFixed(1)} ms`,
    },
    {
      measure: 'embedder end to end (Kafka → fetch → embed → record + thumbnail)',
      value: `${embedderPerSecond.toFixed(1)} img/s`,
      limit: `${rawPerSecond.toFixed(1)} img/s`,
      ratio: ratio.toFixed(2),
      bar: 'informative',
    },
    {
      measure: 'embedder after its consumer joined the group (steady state)',
      value: `${steadyPerSecond.toFixed(1)} img/s`,
      limit: `${rawPerSecond.toFixed(1)} img/s`,
      ratio: (steadyPerSecond / rawPerSecond).toFixed(2),
      bar: 'informative',
    },
    {
      measure: 'embedder: CPU per image (this process; PostgreSQL and Kafka not counted)',
      value: `${embedderCpuPerImage.toFixed(1)} ms`,
      limit: `${rawCpuPerImage.toFixed(1)} ms`,
      ratio: (embedderCpuPerImage / rawCpuPerImage).toFixed(2),
      bar: 'informative',
    },
    {
      measure: 'embedder: images per inference batch (mean)',
      value: meanBatch.toFixed(1),
      limit: String(config.EMBEDDER_BATCH_SIZE),
    },
  ]);
} finally {
  await s.close();
}
