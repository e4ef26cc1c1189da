import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import type { ImageEvent } from '@deeplens/events/imageEvents';
import { sql } from '@deeplens/platform/database';
import { deterministicUuid } from '@deeplens/platform/ids';
import { activeGeneration } from './generations.ts';
import { metadataProjection } from './metadataProjection.ts';
import { createMetadataQueries } from './metadataQueries.ts';
import { readCheckpoints } from './postgresProjection.ts';
import { projectionsNotCaughtUp } from './projectionReadiness.ts';
import { projectionDefinitions } from './projectionRuntime.ts';
import { startProjectionService, type ProjectionService } from './projectionService.ts';
import {
  createProjectionDatabase,
  createTestLog,
  dumpReadModels,
  dumpVectors,
  failuresOf,
  openActiveVectorIndex,
  produceEvents,
  waitForCaughtUp,
  type ProjectionTestDatabase,
  type TestLog,
} from './testing/projectionTestKit.ts';
import { syntheticLog, testModel } from './testing/syntheticLog.ts';
import { createVectorQueries } from './vectorQueries.ts';

const names = ['metadata', 'usage', 'vectors'];

function startAll(
  db: ProjectionTestDatabase,
  log: TestLog,
  groupPrefix = log.groupPrefix,
): ProjectionService[] {
  return names.map((name) =>
    startProjectionService(projectionDefinitions[name]!, {
      kafka: log.kafka,
      serde: log.serde,
      deps: db.deps,
      databaseUrl: db.url,
      topics: log.list,
      groupPrefix,
      log: db.log,
      pollIntervalMs: 200,
      partitionsConsumedConcurrently: name === 'vectors' ? 1 : 2,
    }),
  );
}

describe('projectors', () => {
  it('project tenants, identities, images, usage and vectors; status reaches indexed', async (t) => {
    const db = await createProjectionDatabase(t);
    const log = await createTestLog(t);
    const events = syntheticLog({
      seed: 'p1',
      tenants: 3,
      imagesPerTenant: 120,
      dim: 8,
      eraseLastTenant: true,
    });
    await produceEvents(log, events);
    const services = startAll(db, log);
    t.after(() => Promise.all(services.map((s) => s.stop())));
    await waitForCaughtUp(db.pool, log, names);

    const queries = createMetadataQueries(db.pool);
    const [t0, , erased] = [0, 1, 2].map((i) => deterministicUuid('p1', 'tenant', String(i))) as [
      string,
      string,
      string,
    ];
    const tenant = await queries.getTenant(t0);
    assert.equal(tenant?.plan, 'enterprise');
    assert.equal(tenant?.storage?.bucket, 'byo');
    assert.equal(await queries.getTenant(erased), undefined, 'an erased tenant is gone');
    assert.deepEqual(await queries.listImages(erased), { items: [], nextCursor: null }, 'with its images');
    assert.equal((await queries.listApiKeys(erased)).length, 0, 'and its keys');

    // Expected per image: the last event decides.
    const images = new Map<string, ImageEvent[]>();
    for (const e of events) {
      if (e.type.startsWith('Image') && e.metadata.tenantId === t0) {
        const list = images.get(e.metadata.aggregateId) ?? [];
        list.push(e as ImageEvent);
        images.set(e.metadata.aggregateId, list);
      }
    }
    const live = [...images].filter(([, es]) => !es.some((e) => e.type === 'ImageDeleted'));
    const all = [];
    for (let cursor: string | null | undefined; ;) {
      const page = await queries.listImages(t0, { limit: 25, cursor: cursor ?? undefined });
      all.push(...page.items);
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    assert.equal(all.length, live.length, 'listing pages through every live image once');
    assert.equal(new Set(all.map((i) => i.imageId)).size, live.length);
    for (const [imageId, es] of live) {
      const view = await queries.getImage(t0, imageId);
      assert.ok(view, imageId);
      const failed = es.some((e) => e.type === 'ImageEmbeddingFailed');
      assert.equal(view.status, failed ? 'failed' : 'indexed');
      if (!failed) {
        assert.equal(view.embeddings[0]?.modelVersion, testModel.modelVersion);
        assert.ok(view.embeddings[0]?.indexedAt);
        assert.equal(view.thumbnail?.mime, 'image/webp');
      } else {
        assert.equal(view.failure?.reason, 'corrupt image');
      }
      const updated = es.find((e) => e.type === 'ImageMetadataUpdated');
      if (updated) assert.ok(view.tags.includes('curated'));
    }
    const tagged = await queries.listImages(t0, { tag: 'tenth', limit: 500 });
    assert.ok(tagged.items.length > 0 && tagged.items.every((i) => i.tags.includes('tenth')));
    const failedOnly = await queries.listImages(t0, { status: 'failed', limit: 500 });
    assert.ok(failedOnly.items.every((i) => i.status === 'failed'));
    const deletedId = [...images].find(([, es]) => es.some((e) => e.type === 'ImageDeleted'))?.[0];
    if (deletedId) assert.equal(await queries.getImage(t0, deletedId), undefined);
    // Another tenant's id never finds tenant t0's image.
    assert.equal(await queries.getImage(deterministicUuid('p1', 'tenant', '1'), live[0]![0]), undefined);

    const uploads = events.filter((e) => e.type === 'ImageUploaded' && e.metadata.tenantId === t0);
    const deletes = events.filter((e) => e.type === 'ImageDeleted' && e.metadata.tenantId === t0);
    const usage = await queries.getUsage(t0);
    assert.equal(usage?.images, uploads.length - deletes.length);
    const bytesOf = (e: (typeof events)[number]) => (e.data as { bytes: number }).bytes;
    assert.equal(
      usage?.bytes,
      uploads.reduce((n, e) => n + bytesOf(e), 0) - deletes.reduce((n, e) => n + bytesOf(e), 0),
    );
    assert.equal(await queries.getUsage(erased), undefined);

    const key = (await queries.listApiKeys(t0))[1]!;
    assert.ok((await queries.findApiKeyByPrefix(key.prefix))?.revokedAt);
    assert.equal((await queries.findUserByEmail('ADMIN0@p1.example'))?.role, 'tenant_user');

    const vectors = createVectorQueries({
      pool: db.pool,
      openIndex: db.deps.openVectorIndex!,
      pollIntervalMs: 200,
    });
    t.after(() => vectors.close());
    const indexed = live.find(([, es]) => es.some((e) => e.type === 'ImageEmbedded'))!;
    const similar = await vectors.similarTo(t0, testModel, indexed[0], { k: 5 });
    assert.equal(similar?.length, 5);
    const own = await vectors.vectorOf(t0, testModel, indexed[0]);
    assert.ok(own);
    const self = await vectors.search(t0, testModel, own, { k: 1 });
    assert.equal(self[0]?.id, indexed[0]);
    assert.ok(Math.abs(self[0].score - 1) < 1e-5);
    assert.deepEqual(
      await vectors.search(erased, testModel, own, { k: 3 }),
      [],
      "an erased tenant's vectors are gone",
    );
    assert.deepEqual(await failuresOf(db.pool), []);
  });

  it('halts a partition at an undecodable record and goes on only past an operator skip, which is recorded', async (t) => {
    const db = await createProjectionDatabase(t);
    const log = await createTestLog(t);
    const events = syntheticLog({ seed: 'p2', tenants: 1, imagesPerTenant: 20, dim: 4 });
    const [first, ...rest] = events;
    await produceEvents(log, [first!]);
    // Bad magic byte; a framed record naming a schema id the registry does not have.
    const unknownSchema = Buffer.concat([Buffer.from([0, 0x7f, 0xff, 0xff, 0xf0]), Buffer.from('junk')]);
    const sent = await log.producer.send({
      topic: log.topics.image,
      acks: -1,
      messages: [0, 1, 2].flatMap((partition) => [
        { partition, key: 'x', value: Buffer.from('not avro at all') },
        { partition, key: 'y', value: unknownSchema },
      ]),
    });
    const bad = sent.flatMap((r) =>
      [0, 1].map((i) => `${log.topics.image}:${r.partition}:${Number(r.baseOffset) + i}`),
    );
    await produceEvents(log, rest);
    const start = (skip?: string[]) =>
      startProjectionService(metadataProjection, {
        kafka: log.kafka,
        serde: log.serde,
        deps: db.deps,
        databaseUrl: db.url,
        topics: log.list,
        groupPrefix: log.groupPrefix,
        log: db.log,
        pollIntervalMs: 200,
        skip,
      });
    const halting = start();
    let stopped = false;
    t.after(() => (stopped ? undefined : halting.stop()));

    // Every image partition stops right before its first bad record.
    const firstBad = sent.map((r) => ({ partition: r.partition, offset: Number(r.baseOffset) }));
    for (let deadline = Date.now() + 60_000; ;) {
      const generation = await activeGeneration(db.pool, 'metadata');
      const checkpoints = generation ? await readCheckpoints(db.pool, 'metadata', generation) : new Map();
      const halted = await projectionsNotCaughtUp(db.pool);
      if (
        halted.some((h) => h.state === 'halted') &&
        firstBad.every((b) => (checkpoints.get(`${log.topics.image}:${b.partition}`) ?? -1) === b.offset - 1)
      )
        break;
      assert.ok(Date.now() < deadline, 'the image partitions halt at their first bad record');
      await sleep(200);
    }
    await sleep(1000);
    const [row] = await projectionsNotCaughtUp(db.pool);
    assert.equal(row?.state, 'halted');
    assert.match(row?.reason ?? '', /^undecodable: /);
    assert.equal(row?.detail.topic, log.topics.image);
    assert.ok(
      firstBad.some((b) => b.partition === row?.detail.partition && b.offset === row.detail.offset),
      'the halt names the partition and offset of a bad record',
    );
    assert.deepEqual(await failuresOf(db.pool), [], 'nothing skipped silently');
    const tenantId = deterministicUuid('p2', 'tenant', '0');
    const uploaded = events.filter((e) => e.type === 'ImageUploaded').length;
    const deleted = events.filter((e) => e.type === 'ImageDeleted').length;
    const partial = await createMetadataQueries(db.pool).listImages(tenantId, { limit: 500 });
    assert.ok(partial.items.length < uploaded - deleted, 'the events after the bad records wait');
    await halting.stop();
    stopped = true;

    // The operator skips the six records explicitly: each is recorded, the rest is applied.
    const skipping = start(bad);
    t.after(() => skipping.stop());
    await waitForCaughtUp(db.pool, log, ['metadata']);
    const failures = await failuresOf(db.pool);
    assert.equal(failures.length, 6, 'each skipped record recorded once');
    assert.ok(failures.every((f) => f.error === 'skipped by the operator (--skip)'));
    const page = await createMetadataQueries(db.pool).listImages(tenantId, { limit: 500 });
    assert.equal(page.items.length, uploaded - deleted, 'the events after the skipped records were applied');
    for (let deadline = Date.now() + 10_000; (await projectionsNotCaughtUp(db.pool)).length > 0;) {
      assert.ok(Date.now() < deadline, 'caught up once past the skipped records');
      await sleep(100);
    }
  });

  it('changes nothing when the whole log is applied twice', async (t) => {
    const db = await createProjectionDatabase(t);
    const log = await createTestLog(t);
    await produceEvents(
      log,
      syntheticLog({ seed: 'p3', tenants: 2, imagesPerTenant: 80, dim: 8, eraseLastTenant: true }),
    );
    let services = startAll(db, log);
    await waitForCaughtUp(db.pool, log, names);
    await Promise.all(services.map((s) => s.stop()));
    const before = await dumpReadModels(db.pool);
    const index = await openActiveVectorIndex(db);
    const vectorsBefore = await dumpVectors(index);
    await index.close();

    // Redelivery: new consumer groups read the whole log again; the checkpoints skip it all.
    services = startAll(db, log, `${log.groupPrefix}-again`);
    await waitForCaughtUp(db.pool, log, names);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await Promise.all(services.map((s) => s.stop()));
    assert.deepEqual(await dumpReadModels(db.pool), before);

    // Stronger: forget the PostgreSQL checkpoints, so every event reaches the handlers again.
    await db.pool.query(sql.unsafe`update projections.checkpoints set "offset" = -1`);
    services = startAll(db, log, `${log.groupPrefix}-thrice`);
    await waitForCaughtUp(db.pool, log, names);
    await Promise.all(services.map((s) => s.stop()));
    assert.deepEqual(await dumpReadModels(db.pool), before, 'version guards make every event idempotent');
    const after = await openActiveVectorIndex(db);
    assert.deepEqual(await dumpVectors(after), vectorsBefore);
    await after.close();
  });
});
