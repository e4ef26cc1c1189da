import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { appendToOutbox, createCommandHandler } from '../commandHandler.ts';
import { createWriteModelDatabase } from '../testing/writeModelDatabase.ts';
import { tenantAggregate } from '../writeModelRules.ts';
import { ensureEventTopics } from '@deeplens/events/ensureEventTopics';
import { createEventSerde, registrySchemaStore } from '@deeplens/events/eventSerde';
import { endOffsets, readEvents, type ReadEvent } from '@deeplens/events/testing/readEvents';
import { topics } from '@deeplens/events/topics';
import { sql } from '@deeplens/platform/database';
import { createKafka } from '@deeplens/platform/kafka';
import { createSchemaRegistry } from '@deeplens/platform/schemaRegistry';
import { z } from 'zod';
import { createOutboxRelay } from './outboxRelay.ts';

const repoRoot = join(import.meta.dirname, '..', '..', '..');

/** `eventsPerTenant` events for each of `tenants` new tenants: provisioned, then suspended/reactivated in turn. */
async function appendTenantHistories(
  pool: Parameters<typeof createCommandHandler>[0]['pool'],
  tenants: number,
  eventsPerTenant: number,
) {
  const handler = createCommandHandler({ pool });
  const ids = Array.from({ length: tenants }, () => randomUUID());
  const origin = { actor: 'system:test' } as const;
  // Ten tenants at a time, each one's commands strictly in order.
  for (let start = 0; start < ids.length; start += 10) {
    await Promise.all(
      ids.slice(start, start + 10).map(async (tenantId) => {
        await handler.handle(
          tenantAggregate,
          {
            type: 'ProvisionTenant',
            data: { tenantId, slug: `t-${tenantId}`, name: 'Relay test', plan: 'free' },
          },
          origin,
        );
        for (let i = 1; i < eventsPerTenant; i++) {
          const command =
            i % 2 === 1
              ? ({ type: 'SuspendTenant', data: { tenantId, reason: `pause ${i}` } } as const)
              : ({ type: 'ReactivateTenant', data: { tenantId } } as const);
          await handler.handle(tenantAggregate, command, origin);
        }
      }),
    );
  }
  return new Set<string>(ids);
}

/** Every tenant's events, first occurrences only, must be versions 1..n in order; duplicates must repeat an event id. */
function checkStreams(read: ReadEvent[], tenantIds: Set<string>, eventsPerTenant: number) {
  const firstSeen = new Map<string, number[]>();
  const idsSeen = new Map<string, string>(); // event id -> aggregate:version
  let duplicates = 0;
  for (const { event } of read) {
    const { eventId, aggregateId, aggregateVersion } = event.metadata;
    const identity = `${aggregateId}:${aggregateVersion}`;
    const earlier = idsSeen.get(eventId);
    if (earlier !== undefined) {
      assert.equal(earlier, identity, 'a republished event keeps its id and content');
      duplicates++;
      continue;
    }
    idsSeen.set(eventId, identity);
    firstSeen.set(aggregateId, [...(firstSeen.get(aggregateId) ?? []), aggregateVersion]);
  }
  const expected = Array.from({ length: eventsPerTenant }, (_, i) => i + 1);
  assert.equal(firstSeen.size, tenantIds.size, 'every tenant arrived');
  for (const [tenantId, versions] of firstSeen)
    assert.deepEqual(versions, expected, `tenant ${tenantId} in order, none missing`);
  return { distinct: idsSeen.size, duplicates };
}

describe('outbox relay', () => {
  it('publishes 10 000 events of 100 aggregates, each aggregate in order, none missing', async (t) => {
    const { pool, config } = await createWriteModelDatabase(t);
    const kafka = createKafka(config, 'relay-test');
    const admin = kafka.admin();
    await admin.connect();
    await ensureEventTopics(admin, config.KAFKA_TOPIC_PARTITIONS);
    await admin.disconnect();
    const serde = createEventSerde(
      registrySchemaStore(createSchemaRegistry(config), config.SCHEMA_REGISTRY_URL),
    );
    const from = await endOffsets(kafka, topics.tenant);

    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    t.after(() => producer.disconnect());
    const relay = createOutboxRelay({ databaseUrl: config.DATABASE_URL, producer, serde });
    relay.start();
    t.after(() => relay.stop());

    // The relay runs while commands append, so it sees the outbox grow under it.
    const tenantIds = await appendTenantHistories(pool, 100, 100);
    const read = await readEvents(kafka, serde, topics.tenant, from, {
      keep: (e) => tenantIds.has(e.metadata.aggregateId),
      done: (events) => events.length >= 10_000,
      timeoutMs: 120_000,
    });
    const { distinct, duplicates } = checkStreams(read, tenantIds, 100);
    assert.equal(distinct, 10_000);
    assert.equal(duplicates, 0, 'a relay that never crashed publishes each event once');
    // Keyed by aggregate id: one aggregate's events all sit on one partition.
    const partitionsByTenant = new Map<string, Set<number>>();
    for (const r of read)
      partitionsByTenant.set(r.key, (partitionsByTenant.get(r.key) ?? new Set()).add(r.partition));
    for (const [key, partitions] of partitionsByTenant)
      assert.equal(partitions.size, 1, `${key} on one partition`);

    const unpublished = await pool.oneFirst(
      sql.type(
        z.object({ n: z.number() }),
      )`select count(*)::int8 as n from write.outbox where published_at is null`,
    );
    assert.equal(unpublished, 0);
  });

  it('publishes a backlog of large events in sends the broker accepts (under 1 MiB each)', async (t) => {
    const { pool, config } = await createWriteModelDatabase(t);
    const kafka = createKafka(config, 'relay-test');
    const admin = kafka.admin();
    await admin.connect();
    await ensureEventTopics(admin, config.KAFKA_TOPIC_PARTITIONS);
    await admin.disconnect();
    const serde = createEventSerde(
      registrySchemaStore(createSchemaRegistry(config), config.SCHEMA_REGISTRY_URL),
    );
    const from = await endOffsets(kafka, topics.image);
    // 400 embeddings of ~23 KiB (a 1792-d vector and 16 KiB of local features): 9 MiB
    // waiting at once, as when the relay falls behind the embedder, over 1 MiB per partition.
    const tenantId = randomUUID();
    const imageIds = new Set<string>();
    await pool.transaction(async (tx) => {
      for (let i = 0; i < 400; i++) {
        const imageId = randomUUID();
        imageIds.add(imageId);
        await appendToOutbox(
          tx,
          {
            type: 'ImageEmbedded',
            data: {
              tenantId,
              imageId,
              modelId: 'm',
              modelVersion: '1',
              dim: 1792,
              vector: new Float32Array(1792).fill(0.5),
              localFeatures: Buffer.alloc(16_384, i),
            },
            metadata: {
              eventId: randomUUID(),
              aggregateId: imageId,
              aggregateVersion: 2,
              tenantId,
              occurredAt: Date.now(),
              correlationId: imageId,
              causationId: null,
              actor: 'system:test',
            },
          },
          'image',
        );
      }
    });
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    t.after(() => producer.disconnect());
    const relay = createOutboxRelay({ databaseUrl: config.DATABASE_URL, producer, serde });
    relay.start();
    t.after(() => relay.stop());
    const read = await readEvents(kafka, serde, topics.image, from, {
      keep: (e) => imageIds.has(e.metadata.aggregateId),
      done: (events) => events.length >= imageIds.size,
      timeoutMs: 120_000,
    });
    assert.equal(new Set(read.map((r) => r.event.metadata.aggregateId)).size, 400);
    const unpublished = await pool.oneFirst(
      sql.type(
        z.object({ n: z.number() }),
      )`select count(*)::int8 as n from write.outbox where published_at is null`,
    );
    assert.equal(unpublished, 0);
  });

  it('loses nothing when the relay is killed between publishing and marking published', async (t) => {
    const { pool, config } = await createWriteModelDatabase(t);
    const kafka = createKafka(config, 'relay-crash-test');
    const serde = createEventSerde(
      registrySchemaStore(createSchemaRegistry(config), config.SCHEMA_REGISTRY_URL),
    );
    const admin = kafka.admin();
    await admin.connect();
    await ensureEventTopics(admin, config.KAFKA_TOPIC_PARTITIONS);
    await admin.disconnect();
    const from = await endOffsets(kafka, topics.tenant);
    const tenantIds = await appendTenantHistories(pool, 20, 50);

    const runRelay = (env: Record<string, string>) =>
      new Promise<number | null>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'commands/src/outbox/relayMain.ts'], {
          cwd: repoRoot,
          env: { ...process.env, DATABASE_URL: config.DATABASE_URL, LOG_LEVEL: 'warn', ...env },
          stdio: ['ignore', 'ignore', 'inherit'],
        });
        child.on('error', reject);
        child.on('exit', (code, signal) => resolve(signal === 'SIGKILL' ? -9 : code));
        t.after(() => child.kill('SIGKILL'));
      });

    // First relay: SIGKILLed by its own fault hook right after its first batch is in Kafka.
    assert.equal(await runRelay({ DEEPLENS_FAULT_RELAY_KILL_AFTER_PUBLISH: '1' }), -9);
    const stillUnpublished = await pool.oneFirst(
      sql.type(
        z.object({ n: z.number() }),
      )`select count(*)::int8 as n from write.outbox where published_at is null`,
    );
    assert.equal(stillUnpublished, 1000, 'the killed relay marked nothing');

    // A fresh relay republishes from the first unmarked row.
    void runRelay({});
    const read = await readEvents(kafka, serde, topics.tenant, from, {
      keep: (e) => tenantIds.has(e.metadata.aggregateId),
      done: (events) => new Set(events.map((r) => r.event.metadata.eventId)).size >= 1000,
      timeoutMs: 120_000,
    });
    const { distinct, duplicates } = checkStreams(read, tenantIds, 50);
    assert.equal(distinct, 1000, 'nothing lost');
    assert.ok(
      duplicates > 0,
      'the batch in flight at the kill was published again, under the same event ids',
    );
  });
});
