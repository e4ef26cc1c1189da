import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createEventSerde, registrySchemaStore } from '@deeplens/events/eventSerde';
import { ensureEventTopics } from '@deeplens/events/ensureEventTopics';
import { endOffsets, readEvents } from '@deeplens/events/testing/readEvents';
import { topics } from '@deeplens/events/topics';
import { createKafka } from '@deeplens/platform/kafka';
import { createSchemaRegistry } from '@deeplens/platform/schemaRegistry';
import { createTenantStorageResolver } from '@deeplens/platform/tenantStorage';
import { uniqueName } from '@deeplens/platform/testing/testTopics';
import { createOutboxRelay } from '@deeplens/commands/outbox/outboxRelay';
import { adminEmail, adminPassword, startWriteApi } from '@deeplens/write-api/testing/writeApiHarness';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { imageDecider } from '@deeplens/commands/image/imageDecider';
import { limitsOf } from '@deeplens/commands/tenant/plans';
import { tenantDecider } from '@deeplens/commands/tenant/tenantDecider';
import { imageRules } from '@deeplens/commands/writeModelRules';
import { encodeEvent } from '@deeplens/events/eventCodec';
import type { ImageUploaded } from '@deeplens/events/imageEvents';
import { s3ObjectStore } from '@deeplens/platform/objectStore';
import { createTestTopics } from '@deeplens/platform/testing/testTopics';
import { buildDefaultModel } from './buildDefaultModel.ts';
import { createEmbedderWorker } from './embedderWorker.ts';
import { decodeLocalFeatures, verifyGeometry } from './localFeatures.ts';
import { loadEmbeddingModel } from './onnxEmbeddingModel.ts';
import { hammingDistance, isPerceptualHash } from './perceptualHash.ts';

const photos = join(import.meta.dirname, '..', 'fixtures', 'photos');

/** A real photo with 400 bytes of its scan data overwritten: it passes upload checks, fails decoding. */
async function corruptJpeg(): Promise<Buffer> {
  const bytes = Buffer.from(await readFile(join(photos, 'coffee.jpg')));
  bytes.fill(0xff, Math.floor(bytes.length / 2), Math.floor(bytes.length / 2) + 400);
  return bytes;
}

describe('embedder worker (real Kafka, PostgreSQL, ONNX model)', () => {
  it('embeds uploads into 512-d unit vectors of descriptor v2 with thumbnails; a corrupt image fails with a reason and the next go through', async (t) => {
    const api = await startWriteApi(t);
    const { config, deps } = api;
    const admin = await api.signIn(adminEmail, adminPassword);
    const tenant = (await (
      await api.call('POST', '/v1/tenants', {
        token: admin.access_token,
        json: { slug: 'embedder', name: 'Embedder' },
      })
    ).json()) as { id: string };
    await api.call('POST', '/v1/users', {
      token: admin.access_token,
      json: {
        email: 'e@embedder.test',
        password: 'embedder password',
        role: 'tenant_user',
        tenantId: tenant.id,
      },
    });
    const user = await api.signIn('e@embedder.test', 'embedder password');

    const kafka = createKafka(config, 'embedder-test');
    const admin2 = kafka.admin();
    await admin2.connect();
    await ensureEventTopics(admin2, config.KAFKA_TOPIC_PARTITIONS);
    await admin2.disconnect();
    const serde = createEventSerde(
      registrySchemaStore(createSchemaRegistry(config), config.SCHEMA_REGISTRY_URL),
    );
    const from = await endOffsets(kafka, topics.image);

    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    t.after(() => producer.disconnect());
    const relay = createOutboxRelay({
      databaseUrl: config.DATABASE_URL,
      producer,
      serde,
      pollIntervalMs: 200,
    });
    relay.start();
    t.after(() => relay.stop());

    const model = await loadEmbeddingModel((await buildDefaultModel()).manifest);
    t.after(() => model.close());
    const worker = createEmbedderWorker({
      kafka,
      serde,
      handler: deps.handler,
      model,
      storageOf: createTenantStorageResolver(config, deps.objects, deps.secrets),
      log: deps.log,
      batchSize: 8,
      batchWindowMs: 50,
      maxAttempts: 3,
      thumbnailSize: 128,
      groupId: uniqueName('embedder'),
      startAt: from,
    });
    await worker.start();
    t.after(() => worker.stop());

    const upload = async (files: { name: string; bytes: Buffer }[]) => {
      const form = new FormData();
      for (const f of files) form.append('file', new Blob([f.bytes], { type: 'image/jpeg' }), f.name);
      const response = await fetch(`${api.baseUrl}/v1/images`, {
        method: 'POST',
        headers: { authorization: `Bearer ${user.access_token}` },
        body: form,
      });
      assert.equal(response.status, 202, await response.clone().text());
      return ((await response.json()) as { images: { id: string }[] }).images.map((i) => i.id);
    };
    const [astronaut, broken] = await upload([
      { name: 'astronaut.jpg', bytes: await readFile(join(photos, 'astronaut.jpg')) },
      { name: 'broken.jpg', bytes: await corruptJpeg() },
    ]);
    const [rocket] = await upload([
      { name: 'rocket.jpg', bytes: await readFile(join(photos, 'rocket.jpg')) },
    ]);
    const ours = new Set([astronaut, broken, rocket]);

    const read = await readEvents(kafka, serde, topics.image, from, {
      keep: (e) => ours.has(e.metadata.aggregateId) && e.type !== 'ImageUploaded',
      done: (events) =>
        events.filter((r) => r.event.type === 'ImageEmbedded' || r.event.type === 'ImageEmbeddingFailed')
          .length >= 3 && events.filter((r) => r.event.type === 'ThumbnailGenerated').length >= 2,
      timeoutMs: 90_000,
    });
    const byImage = (id: string | undefined, type: string) =>
      read.map((r) => r.event).filter((e) => e.metadata.aggregateId === id && e.type === type);

    for (const id of [astronaut, rocket]) {
      const [embedded] = byImage(id, 'ImageEmbedded');
      assert.ok(embedded && embedded.type === 'ImageEmbedded', `image ${id} embedded`);
      assert.equal(embedded.data.dim, 512);
      assert.equal(embedded.data.vector.length, 512);
      const norm = Math.hypot(...embedded.data.vector);
      assert.ok(Math.abs(norm - 1) < 1e-4, `unit length, got ${norm}`);
      assert.equal(embedded.data.modelId, model.manifest.modelId);
      assert.equal(embedded.data.modelVersion, model.manifest.modelVersion, 'the v2 space names the event');
      // The hash of the same decode, as search computes it for a query image of the same bytes.
      const { perceptualHash } = embedded.data;
      assert.ok(isPerceptualHash(perceptualHash), `a 64-bit perceptual hash, got ${perceptualHash}`);
      const name = id === astronaut ? 'astronaut.jpg' : 'rocket.jpg';
      const [query] = await model.describeSettled([await readFile(join(photos, name))], {
        localFeatures: true,
      });
      assert.ok(query && !(query instanceof Error));
      assert.ok(hammingDistance(perceptualHash, query.perceptualHash) <= 2, 'the query side agrees');
      // Local features of the same decode travel in the event; the query's verify against them.
      const stored = decodeLocalFeatures(embedded.data.localFeatures);
      const asked = decodeLocalFeatures(query.localFeatures);
      assert.ok(stored && asked && stored.count > 100, `local features in the event (${stored?.count ?? 0})`);
      assert.ok(verifyGeometry(asked, stored) >= 100, 'the same picture verifies geometrically');
      const [thumb] = byImage(id, 'ThumbnailGenerated');
      assert.ok(thumb && thumb.type === 'ThumbnailGenerated' && thumb.data.mime === 'image/webp');
      assert.ok(thumb.data.width <= 128 && thumb.data.height <= 128);
    }
    const [failed] = byImage(broken, 'ImageEmbeddingFailed');
    assert.ok(failed && failed.type === 'ImageEmbeddingFailed', 'the corrupt image failed');
    assert.match(failed.data.reason, /corrupt|truncated/i);
    assert.equal(failed.data.retriable, false);
    assert.equal(byImage(broken, 'ImageEmbedded').length, 0);
  });
});

describe('embedder worker: poison records and storage outages', () => {
  it('dead-letters an undecodable record with its reason; an image whose storage is down is retried and redelivered, never dead-lettered, and embedded once storage is back', async (t) => {
    const api = await startWriteApi(t);
    const { config, deps } = api;
    const admin = await api.signIn(adminEmail, adminPassword);
    const tenant = (await (
      await api.call('POST', '/v1/tenants', {
        token: admin.access_token,
        json: { slug: 'poison', name: 'Poison' },
      })
    ).json()) as { id: string };
    const kafka = createKafka(config, 'embedder-poison-test');
    const topic = uniqueName('images');
    const dlqTopic = uniqueName('dlq');
    await createTestTopics(t, kafka, [
      { topic, partitions: 1 },
      { topic: dlqTopic, partitions: 1 },
    ]);
    const serde = createEventSerde(
      registrySchemaStore(createSchemaRegistry(config), config.SCHEMA_REGISTRY_URL),
    );
    const model = await loadEmbeddingModel((await buildDefaultModel()).manifest);
    t.after(() => model.close());

    // Storage for the tenant's "outage" bucket is an S3 endpoint nobody listens on.
    const healthy = createTenantStorageResolver(config, deps.objects, deps.secrets);
    const down = s3ObjectStore({
      endpoint: 'http://127.0.0.1:9',
      region: 'us-east-1',
      accessKey: 'x',
      secretKey: 'y',
    });
    const photo = await readFile(join(photos, 'chelsea.jpg'));
    const storage = healthy((await deps.handler.load(tenantDecider, tenant.id)) as never);
    await storage.store.ensureBucket(storage.bucket);
    await storage.store.put(storage.bucket, 'images/ok', photo, 'image/jpeg');
    await storage.store.put(storage.bucket, 'images/stranded', photo, 'image/jpeg');
    // The stranded image's reads go to the dead endpoint until the outage ends.
    let outage = true;
    let strandedReads = 0;

    const uploaded = (imageId: string, objectKey: string): ImageUploaded => ({
      type: 'ImageUploaded',
      data: {
        tenantId: tenant.id,
        imageId,
        objectKey,
        sha256: 'a'.repeat(64),
        mime: 'image/jpeg',
        bytes: photo.length,
        width: 451,
        height: 300,
        filename: 'x.jpg',
        tags: [],
        attributes: {},
        source: 'http',
      },
      metadata: {
        eventId: randomUUID(),
        aggregateId: imageId,
        aggregateVersion: 1,
        tenantId: tenant.id,
        occurredAt: Date.now(),
        correlationId: 'c',
        causationId: null,
        actor: 'system:test',
      },
    });
    // The write model must know the images the embedder records results for.
    const stranded = randomUUID();
    const fine = randomUUID();
    for (const [imageId, key] of [
      [stranded, 'images/stranded'],
      [fine, 'images/ok'],
    ] as const) {
      const event = uploaded(imageId, key);
      await deps.handler.handle(
        imageDecider,
        {
          type: 'UploadImage',
          data: {
            ...event.data,
            tenant: { status: 'active', limits: limitsOf('free') },
          },
        },
        { actor: 'system:test' },
        imageRules,
      );
    }
    const producer = kafka.producer();
    await producer.connect();
    t.after(() => producer.disconnect());
    const frame = async (event: ImageUploaded) => ({
      key: event.data.imageId,
      value: await serde.frameEncoded('ImageUploaded', encodeEvent(event)),
      headers: { 'event-type': 'ImageUploaded' },
    });
    await producer.send({
      topic,
      messages: [
        {
          key: 'poison',
          value: Buffer.from('definitely not avro'),
          headers: { 'event-type': 'ImageUploaded' },
        },
        await frame(uploaded(stranded, 'images/stranded')),
        await frame(uploaded(fine, 'images/ok')),
      ],
    });

    const worker = createEmbedderWorker({
      kafka,
      serde,
      handler: deps.handler,
      model,
      storageOf: (t2) =>
        t2.tenantId === tenant.id
          ? {
              ...healthy(t2),
              store: {
                ...healthy(t2).store,
                get: (bucket, key) => {
                  if (key !== 'images/stranded' || !outage) return healthy(t2).store.get(bucket, key);
                  strandedReads++;
                  return down.get(bucket, key);
                },
              },
            }
          : healthy(t2),
      log: deps.log,
      batchSize: 8,
      batchWindowMs: 50,
      maxAttempts: 2,
      thumbnailSize: 64,
      topic,
      dlqTopic,
      groupId: uniqueName('embedder-poison'),
      backoff: { initialMs: 20, maxMs: 100 },
    });
    await worker.start();
    t.after(() => worker.stop());

    const until = async (what: string, condition: () => boolean) => {
      const deadline = Date.now() + 90_000;
      while (!condition()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await sleep(50);
      }
    };
    // Each delivery makes maxAttempts (2) reads: a third read is the record delivered again.
    await until('the stranded record redelivered', () => strandedReads >= 3);
    assert.equal(worker.counts.embedded, 1, 'the good image is embedded meanwhile');
    assert.equal(worker.counts.deadLettered, 1, 'only the undecodable record is dead-lettered');
    outage = false;
    await until('the stranded image embedded', () => worker.counts.embedded >= 2);
    assert.deepEqual(
      [worker.counts.deadLettered, worker.counts.embedded, worker.counts.failed],
      [1, 2, 0],
      'one dead letter; both images embedded once',
    );

    const reader = kafka.consumer({ groupId: uniqueName('dlq-reader') });
    await reader.connect();
    t.after(() => reader.disconnect());
    await reader.subscribe({ topic: dlqTopic, fromBeginning: true });
    const headers: Record<string, string>[] = [];
    await new Promise<void>((resolve) => {
      void reader.run({
        eachMessage: async ({ message }) => {
          headers.push(
            Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])),
          );
          resolve();
        },
      });
    });
    const topicAdmin = kafka.admin();
    await topicAdmin.connect();
    t.after(() => topicAdmin.disconnect());
    const [end] = await topicAdmin.fetchTopicOffsets(dlqTopic);
    assert.equal(Number(end?.high), 1, 'one record on the dead-letter topic, once');
    assert.match(headers[0]!['dlq-reason']!, /undecodable/);
    assert.equal(headers[0]!['dlq-source'], `${topic}:0:0`);
    assert.equal(headers[0]!['event-type'], 'ImageUploaded', 'the record keeps its own headers');
  });
});
