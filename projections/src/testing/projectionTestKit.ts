import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestContext } from 'node:test';
import type { Kafka, Producer } from 'kafkajs';
import { z } from 'zod';
import type { DeepLensEvent } from '@deeplens/events/domainEvent';
import { encodeEvent } from '@deeplens/events/eventCodec';
import { createEventSerde, registrySchemaStore, type EventSerde } from '@deeplens/events/eventSerde';
import { topicOf, topics as productionTopics } from '@deeplens/events/topics';
import { loadConfig, type Config } from '@deeplens/platform/config';
import { sql, type DatabasePool } from '@deeplens/platform/database';
import { createKafka } from '@deeplens/platform/kafka';
import { createLogger, type Logger } from '@deeplens/platform/logger';
import { runMigrations } from '@deeplens/platform/migrations';
import { createSchemaRegistry } from '@deeplens/platform/schemaRegistry';
import { createTestDatabase, type TestDatabase } from '@deeplens/platform/testing/testDatabase';
import { createTestTopics, uniqueName } from '@deeplens/platform/testing/testTopics';
import type { VectorIndex } from '@deeplens/platform/vectorIndex';
import { openEmbeddedVectorIndex } from '../embeddedVectorIndex.ts';
import { dropQdrantCollections } from '../qdrantVectorIndex.ts';
import { activeGeneration } from '../generations.ts';
import { readCheckpoints } from '../postgresProjection.ts';
import { checkpointKey } from '../projection.ts';
import {
  createProjectionDependencies,
  projectionMigrations,
  vectorGenerationDir,
  vectorIndexOpener,
} from '../projectionRuntime.ts';
import type { ProjectionDependencies } from '../projection.ts';

/** The three topics a projector reads, created for one test (3 partitions each) and removed after. */
export type TestLog = {
  kafka: Kafka;
  serde: EventSerde;
  topics: { tenant: string; identity: string; image: string };
  list: string[];
  groupPrefix: string;
  producer: Producer;
};

export async function createTestLog(
  t: Pick<TestContext, 'after'>,
  config: Config = loadConfig(),
): Promise<TestLog> {
  const kafka = createKafka(config, 'projection-test');
  const base = uniqueName('proj');
  const topics = { tenant: `${base}.tenant`, identity: `${base}.identity`, image: `${base}.image` };
  await createTestTopics(
    t,
    kafka,
    Object.values(topics).map((topic) => ({ topic, partitions: 3 })),
  );
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  t.after(() => producer.disconnect());
  const serde = createEventSerde(
    registrySchemaStore(createSchemaRegistry(config), config.SCHEMA_REGISTRY_URL),
  );
  return { kafka, serde, topics, list: Object.values(topics), groupPrefix: `${base}.group`, producer };
}

/** Publishes events as the relay does (framed Avro, key = aggregate id) to the test's topics. */
export async function produceEvents(log: TestLog, events: readonly DeepLensEvent[]): Promise<void> {
  const byProduction: Record<string, string> = {
    [productionTopics.tenant]: log.topics.tenant,
    [productionTopics.identity]: log.topics.identity,
    [productionTopics.image]: log.topics.image,
  };
  for (let i = 0; i < events.length; i += 1000) {
    const byTopic = new Map<string, { key: string; value: Buffer }[]>();
    for (const event of events.slice(i, i + 1000)) {
      const topic = byProduction[topicOf(event.type)]!;
      const messages = byTopic.get(topic) ?? [];
      messages.push({
        key: event.metadata.aggregateId,
        value: await log.serde.frameEncoded(event.type, encodeEvent(event)),
      });
      byTopic.set(topic, messages);
    }
    await log.producer.sendBatch({
      acks: -1,
      topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
    });
  }
}

export type ProjectionTestDatabase = TestDatabase & {
  vectorDir: string;
  /** With `VECTOR_STORE=qdrant`: the namespace of this database's collections (`<namespace>_g<N>__…`). */
  vectorNamespace: string;
  deps: ProjectionDependencies;
  log: Logger;
};

/**
 * A fresh database with the projections' migrations and a fresh vector folder (or, with
 * `vectorStore: 'qdrant'`, a fresh namespace on `QDRANT_URL`'s server), all removed after.
 */
export async function createProjectionDatabase(
  t: Pick<TestContext, 'after'>,
  options: { vectorStore?: 'embedded' | 'qdrant' } = {},
): Promise<ProjectionTestDatabase> {
  const db = await createTestDatabase(t);
  await runMigrations(db.url, 'projections', projectionMigrations);
  const vectorDir = await mkdtemp(join(tmpdir(), 'deeplens-vectors-'));
  t.after(() => rm(vectorDir, { recursive: true, force: true }));
  const vectorNamespace = uniqueName('vectors').replace(/\W/g, '_');
  const qdrant = options.vectorStore === 'qdrant';
  const qdrantUrl = process.env.QDRANT_URL;
  if (qdrant) {
    if (!qdrantUrl) throw new Error('a Qdrant test needs QDRANT_URL');
    t.after(() =>
      dropQdrantCollections({ url: qdrantUrl, apiKey: process.env.QDRANT_API_KEY }, `${vectorNamespace}_g`),
    );
  }
  const config: Config = {
    ...db.config,
    VECTOR_STORE: qdrant ? 'qdrant' : 'embedded',
    VECTOR_INDEX_DIR: vectorDir,
    QDRANT_URL: qdrant ? qdrantUrl : undefined,
    QDRANT_API_KEY: process.env.QDRANT_API_KEY,
  };
  const log = createLogger(
    { test: 'projections' },
    (process.env.TEST_LOG_LEVEL as 'warn' | undefined) ?? 'warn',
  );
  const deps = createProjectionDependencies(config, db.pool, log, vectorNamespace);
  // Dedicated tenant databases (named after this database) go with it.
  t.after(async () => {
    await deps.tenantDatabases?.dropAll().catch(() => undefined);
    await deps.tenantDatabases?.close();
  });
  return { ...db, config, vectorDir, vectorNamespace, log, deps };
}

/** The vector stores a test runs against: the embedded index, and Qdrant when `QDRANT_URL` names one. */
export const testVectorStores = [
  { store: 'embedded', skip: false },
  {
    store: 'qdrant',
    skip: process.env.QDRANT_URL ? false : 'QDRANT_URL is not set: no Qdrant to test against',
  },
] as const;

/** Waits until a projection's active generation has applied everything now in the topics. */
export async function waitForCaughtUp(
  pool: DatabasePool,
  log: TestLog,
  projections: readonly string[],
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const admin = log.kafka.admin();
  await admin.connect();
  try {
    const ends = new Map<string, number>();
    for (const topic of log.list) {
      for (const p of await admin.fetchTopicOffsets(topic))
        ends.set(checkpointKey(topic, p.partition), Number(p.high));
    }
    for (const projection of projections) {
      for (;;) {
        const generation = await activeGeneration(pool, projection).catch(() => undefined);
        const checkpoints =
          generation === undefined
            ? new Map<string, number>()
            : await readCheckpoints(pool, projection, generation);
        if ([...ends].every(([key, high]) => (checkpoints.get(key) ?? -1) >= high - 1)) break;
        if (Date.now() > deadline) throw new Error(`${projection} did not catch up in ${timeoutMs} ms`);
        await sleep(100);
      }
    }
  } finally {
    await admin.disconnect();
  }
}

/**
 * Every row of the active read models (`platform`, `tenant_*`, `usage`, `vector_status`), per
 * table, in a stable order: two databases built from the same log must dump equal.
 */
export async function dumpReadModels(pool: DatabasePool): Promise<Record<string, unknown[]>> {
  const tables = await pool.any(sql.type(z.object({ schema: z.string(), table: z.string() }))`
    select table_schema as schema, table_name as table from information_schema.tables
    where table_schema ~ '^(platform|tenant_[0-9a-f]{32}|usage|vector_status)$'
    order by 1, 2`);
  const out: Record<string, unknown[]> = {};
  for (const { schema, table } of tables) {
    out[`${schema}.${table}`] = [
      ...(await pool.anyFirst(sql.type(z.object({ row: z.string() }))`
      select to_jsonb(t)::text as row from ${sql.identifier([schema, table])} t order by 1`)),
    ];
  }
  return out;
}

/** Every point of every collection of an index: id, vector (as stored) and payload. */
export async function dumpVectors(index: VectorIndex): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const collection of await index.collections()) {
    const points = await index.get(collection, await index.ids(collection));
    out[collection] = points.map((p) => ({ id: p.id, vector: Array.from(p.vector), payload: p.payload }));
  }
  return out;
}

/** Opens (read-only) the active generation of a database's vector index (embedded or Qdrant). */
export async function openActiveVectorIndex(db: ProjectionTestDatabase): Promise<VectorIndex> {
  const generation = await activeGeneration(db.pool, 'vectors');
  if (generation === undefined) throw new Error('no active vector generation');
  if (db.config.VECTOR_STORE === 'qdrant')
    return vectorIndexOpener(db.config, db.vectorNamespace)(generation, 'follower');
  return openEmbeddedVectorIndex({ dir: vectorGenerationDir(db.config, generation), mode: 'follower' });
}

export async function failuresOf(
  pool: DatabasePool,
): Promise<{ projection: string; offset: number; error: string }[]> {
  return [
    ...(await pool.any(sql.type(z.object({ projection: z.string(), offset: z.number(), error: z.string() }))`
      select projection, "offset", error from projections.failures order by projection, topic, partition, "offset"`)),
  ];
}
