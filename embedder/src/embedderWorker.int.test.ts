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
import { createOutboxRelay } from '@deeplens/write-api/outboxRelay';
import { adminEmail, adminPassword, startWriteApi } from '@deeplens/write-api/testing/writeApiHarness';
import { buildDefaultModel } from './buildDefaultModel.ts';
import { createEmbedderWorker } from './embedderWorker.ts';
import { loadEmbeddingModel } from './onnxEmbeddingModel.ts';

const photos = join(import.meta.dirname, '..', 'fixtures', 'photos');

/** A real photo with 400 bytes of its scan data overwritten: it passes upload checks, fails decoding. */
async function corruptJpeg(): Promise<Buffer> {
  const bytes = Buffer.from(await readFile(join(photos, 'coffee.jpg')));
  bytes.fill(0xff, Math.floor(bytes.length / 2), Math.floor(bytes.length / 2) + 400);
  return bytes;
}

describe('embedder worker (real Kafka, PostgreSQL, ONNX model)', () => {
  it('embeds uploads into 1792-d unit vectors with thumbnails; a corrupt image fails with a reason and the next go through', async (t) => {
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
      assert.equal(embedded.data.dim, 1792);
      assert.equal(embedded.data.vector.length, 1792);
      const norm = Math.hypot(...embedded.data.vector);
      assert.ok(Math.abs(norm - 1) < 1e-4, `unit length, got ${norm}`);
      assert.equal(embedded.data.modelId, model.manifest.modelId);
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
