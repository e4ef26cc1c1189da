/**
 * A three-broker KRaft cluster of the tests' own (`up kafka --brokers 3` on free ports), started
 * once for both tests: first its configuration right after a cold start (replication factor 3,
 * min.insync.replicas 2), then a broker killed (SIGKILL) under continuous ingest, outbox relay
 * publication and searches: nothing lost, nothing applied twice, ingest resumes within the
 * producer's retry budget, searches never fail.
 * A few minutes (a cluster start, a kill, a clean rebuild): scripts/test.ts runs the file after
 * the rest of the suite, alone (`npm test`, or `npm run test:int -- brokerKill`);
 * DEEPLENS_CLUSTER=0 skips it.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import kafkajs from 'kafkajs';
import { createCommandHandler } from '@deeplens/commands/commandHandler';
import { createWriteModelDatabase } from '@deeplens/commands/testing/writeModelDatabase';
import { tenantAggregate } from '@deeplens/commands/writeModelRules';
import { createEventSerde, registrySchemaStore } from '@deeplens/events/eventSerde';
import { readEvents } from '@deeplens/events/testing/readEvents';
import { topics as eventTopics } from '@deeplens/events/topics';
import { loadConfig } from '@deeplens/platform/config';
import { deterministicUuid } from '@deeplens/platform/ids';
import { sql } from '@deeplens/platform/database';
import { createKafka, ensureTopics } from '@deeplens/platform/kafka';
import { createSchemaRegistry } from '@deeplens/platform/schemaRegistry';
import { uniqueName } from '@deeplens/platform/testing/testTopics';
import { createMetadataQueries } from '@deeplens/projections/metadataQueries';
import { projectionDefinitions } from '@deeplens/projections/projectionRuntime';
import { startProjectionService } from '@deeplens/projections/projectionService';
import {
  createProjectionDatabase,
  dumpReadModels,
  failuresOf,
  openActiveVectorIndex,
  produceEvents,
  waitForCaughtUp,
  type TestLog,
} from '@deeplens/projections/testing/projectionTestKit';
import { moreImages, syntheticLog, testModel } from '@deeplens/projections/testing/syntheticLog';
import { createVectorQueries } from '@deeplens/projections/vectorQueries';
import { vectorCollectionName } from '@deeplens/platform/vectorIndex';
import { createOutboxRelay } from '@deeplens/commands/outbox/outboxRelay';
import { z } from 'zod';
import { retryKafka, waitForTopicsOnEveryBroker } from '@deeplens/platform/kafkaRetry';
import { createRegistryTopics, registryTopics } from './services/schemaRegistryService.ts';
import { startPrivateKafkaCluster, type PrivateKafkaCluster } from './testing/privateKafkaCluster.ts';

const cluster = process.env.DEEPLENS_CLUSTER !== '0';
const names = ['metadata', 'usage', 'vectors'];
/** The producer's retry budget (platform/src/kafka.ts: 8 retries from 100 ms, doubling, capped at 30 s each). */
const retryBudgetMs = 60_000;

describe(
  'three-broker cluster: configuration, then a broker killed under load',
  { skip: cluster ? false : 'DEEPLENS_CLUSTER=0' },
  () => {
    let kafkaCluster: PrivateKafkaCluster;
    const cleanups: (() => unknown)[] = [];
    before(async () => {
      kafkaCluster = await startPrivateKafkaCluster({
        after: (fn) => void cleanups.push(fn as () => unknown),
      });
    });
    after(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });

    it('up --brokers 3 runs a KRaft cluster whose topics get replication factor 3 and min.insync.replicas 2', async (t) => {
      const base = Number(kafkaCluster.brokers[0]!.split(':')[1]);
      const { Kafka, logLevel, ConfigResourceTypes } = kafkajs;
      const admin = new Kafka({ brokers: [`127.0.0.1:${base + 2}`], logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      t.after(() => admin.disconnect());
      const described = await admin.describeCluster();
      assert.deepEqual(described.brokers.map((b) => b.port).sort(), [base, base + 2, base + 4]);

      // Right after a cold start, as `up` does next: the registry's topics are created and have
      // leaders (a broker that does not know a new topic yet is waited for, not an error).
      await createRegistryTopics([`127.0.0.1:${base + 4}`]);
      const journal = await admin.fetchTopicMetadata({ topics: Object.values(registryTopics) });
      assert.deepEqual(
        journal.topics.map((t) => [t.partitions.length, t.partitions.every((p) => p.leader >= 0)]),
        [
          [1, true],
          [1, true],
          [1, true],
        ],
      );
      // KafkaJS's createTopics gives up when a broker does not know the new topic yet: retried.
      await retryKafka(() =>
        admin.createTopics({ topics: [{ topic: 'replicated', numPartitions: 3 }], waitForLeaders: true }),
      );
      await waitForTopicsOnEveryBroker(admin, ['replicated']);
      const [topic] = (await admin.fetchTopicMetadata({ topics: ['replicated'] })).topics;
      assert.deepEqual(
        topic!.partitions.map((p) => p.replicas.length),
        [3, 3, 3],
        'the brokers default to three replicas',
      );
      const configs = await admin.describeConfigs({
        resources: [
          { type: ConfigResourceTypes.TOPIC, name: 'replicated', configNames: ['min.insync.replicas'] },
        ],
        includeSynonyms: false,
      });
      assert.equal(configs.resources[0]!.configEntries[0]!.configValue, '2');
    });

    it(
      'loses nothing, applies nothing twice, ingest resumes within the retry budget, searches keep answering',
      // Found by this test: 1–2 of ~300 acknowledged images were missing from the log after the
      // kill — kafkajs resolving a send that skipped the partitions whose leadership moved to a
      // broker that had already answered (tulios/kafkajs#1303). createKafka's producers now
      // re-send those (platform/src/kafka.ts, guardProducer).
      async (t) => {
        const config = { ...loadConfig(), KAFKA_BROKERS: kafkaCluster.brokers };
        const kafka = createKafka(config, 'broker-kill-test');
        const base = uniqueName('kill');
        const topics = { tenant: `${base}.tenant`, identity: `${base}.identity`, image: `${base}.image` };
        const admin = kafka.admin();
        await admin.connect();
        t.after(() => admin.disconnect());
        // As production topics on this cluster: every partition on all three brokers, two in sync to ack.
        // (KafkaJS's createTopics gives up when a broker does not know the new topic yet: retried.)
        await retryKafka(() =>
          ensureTopics(
            admin,
            Object.values(topics).map((topic) => ({ topic, partitions: 3 })),
            { replicationFactor: 3, minInsyncReplicas: 2 },
          ),
        );
        await waitForTopicsOnEveryBroker(admin, Object.values(topics));
        const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
        await producer.connect();
        t.after(() => producer.disconnect());
        const log: TestLog = {
          kafka,
          serde: createEventSerde(
            registrySchemaStore(createSchemaRegistry(config), config.SCHEMA_REGISTRY_URL),
          ),
          topics,
          list: Object.values(topics),
          groupPrefix: `${base}.group`,
          producer,
        };

        const dim = 8;
        const db = await createProjectionDatabase(t);
        await produceEvents(log, syntheticLog({ seed: 'kill', tenants: 1, imagesPerTenant: 50, dim }));
        const runtime = {
          kafka,
          serde: log.serde,
          deps: db.deps,
          databaseUrl: db.url,
          topics: log.list,
          groupPrefix: log.groupPrefix,
          log: db.log,
          // A member on the killed broker's connection is replaced within this.
          sessionTimeoutMs: 10_000,
        };
        const services = names.map((name) =>
          startProjectionService(projectionDefinitions[name]!, { ...runtime, pollIntervalMs: 200 }),
        );
        t.after(() => Promise.all(services.map((s) => s.stop())));
        await waitForCaughtUp(db.pool, log, names, 180_000);
        const tenantId = deterministicUuid('kill', 'tenant', '0');
        const queries = createMetadataQueries(db.pool);
        const imagesBefore = (await queries.getUsage(tenantId))?.images ?? 0;
        const collection = vectorCollectionName(tenantId, testModel.modelId, testModel.modelVersion);
        const before = await openActiveVectorIndex(db);
        const searchableBefore = await before.count(collection);
        await before.close();

        // The outbox relay publishes through the same kill, as in production: tenant histories
        // appended by commands (PostgreSQL only) while it runs, to a replicated topic of its own.
        const writeModel = await createWriteModelDatabase(t);
        const relayPrefix = `${base}-relay.`;
        const relayTopic = `${relayPrefix}${eventTopics.tenant}`;
        await retryKafka(() =>
          ensureTopics(admin, [{ topic: relayTopic, partitions: 3 }], {
            replicationFactor: 3,
            minInsyncReplicas: 2,
          }),
        );
        await waitForTopicsOnEveryBroker(admin, [relayTopic]);
        const relayProducer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
        await relayProducer.connect();
        t.after(() => relayProducer.disconnect());
        let relayErrors = 0;
        const relay = createOutboxRelay({
          databaseUrl: writeModel.url,
          producer: relayProducer,
          serde: log.serde,
          topicPrefix: relayPrefix,
          pollIntervalMs: 200,
          onError: () => relayErrors++,
        });
        relay.start();
        t.after(() => relay.stop());
        const handler = createCommandHandler({ pool: writeModel.pool });
        const origin = { actor: 'system:test' } as const;
        /** Each tenant's events appended so far (versions 1..n). */
        const histories = new Map<string, number>();

        // Continuous ingest: 10 images at a time; a batch that fails is sent again (the same events).
        let ingesting = true;
        let sent = 0;
        let lastAck = Date.now();
        let longestStall = 0;
        let failedSends = 0;
        const ingest = (async () => {
          while (ingesting) {
            try {
              await produceEvents(log, moreImages('kill', tenantId, sent, 10, dim));
              sent += 10;
              longestStall = Math.max(longestStall, Date.now() - lastAck);
              lastAck = Date.now();
            } catch {
              failedSends++;
              await sleep(200);
            }
            await sleep(50);
          }
        })();

        // Tenant histories of ten events each (provisioned, then suspended and reactivated in turn),
        // four writers at once so the relay's batches span partitions and so brokers.
        const appending = Promise.all(
          [1, 2, 3, 4].map(async () => {
            while (ingesting) {
              const tenantId = randomUUID();
              await handler.handle(
                tenantAggregate,
                {
                  type: 'ProvisionTenant',
                  data: { tenantId, slug: `t-${tenantId}`, name: 'Kill', plan: 'free' },
                },
                origin,
              );
              histories.set(tenantId, 1);
              for (let version = 2; version <= 10 && ingesting; version++) {
                await handler.handle(
                  tenantAggregate,
                  version % 2 === 0
                    ? { type: 'SuspendTenant', data: { tenantId, reason: `pause ${version}` } }
                    : { type: 'ReactivateTenant', data: { tenantId } },
                  origin,
                );
                histories.set(tenantId, version);
              }
              await sleep(50);
            }
          }),
        );

        // Searches all along (they read the vector index, never Kafka): none may fail.
        const vectors = createVectorQueries({
          pool: db.pool,
          openIndex: db.deps.openVectorIndex!,
          pollIntervalMs: 200,
        });
        t.after(() => vectors.close());
        const probe = Float32Array.from({ length: dim }, (_, i) => Math.cos(i));
        let reading = true;
        const stats = { searches: 0, searchErrors: 0, empty: 0 };
        const readers = (async () => {
          while (reading) {
            try {
              const hits = await vectors.search(tenantId, testModel, probe, { k: 10 });
              stats.searches++;
              if (hits.length < 10) stats.empty++;
            } catch {
              stats.searchErrors++;
            }
            await sleep(20);
          }
        })();

        // Kill the broker that leads the most partitions of the image topic, mid-ingest.
        while (sent < 100) await sleep(100);
        const leaders = (
          await admin.fetchTopicMetadata({ topics: [topics.image] })
        ).topics[0]!.partitions.map((p) => p.leader);
        const victim = [1, 2, 3].sort(
          (a, b) => leaders.filter((l) => l === b).length - leaders.filter((l) => l === a).length,
        )[0]!;
        const sentAtKill = sent;
        process.kill(kafkaCluster.pidOf(victim), 'SIGKILL');
        const killedAt = Date.now();
        // Ingest must carry on on the two brokers left: wait until 200 more images were acknowledged.
        while (sent < sentAtKill + 200) {
          assert.ok(
            Date.now() - killedAt < 3 * retryBudgetMs,
            `ingest did not resume (${sent - sentAtKill} sent)`,
          );
          await sleep(100);
        }
        const resumedAfterMs = Date.now() - killedAt;
        ingesting = false;
        await ingest;
        await appending;

        // The relay drains its outbox on the surviving brokers; every event it marked published is
        // in its topic, each tenant's versions 1..n in order (a re-publication repeats an event id).
        const outboxLeft = () =>
          writeModel.pool.oneFirst(
            sql.type(
              z.object({ n: z.number() }),
            )`select count(*)::int8 as n from write.outbox where published_at is null`,
          );
        for (const deadline = Date.now() + 120_000; (await outboxLeft()) > 0;) {
          assert.ok(Date.now() < deadline, 'the relay drained its outbox');
          await sleep(200);
        }
        const relayEnds = await admin.fetchTopicOffsets(relayTopic);
        const relayed = await readEvents(
          kafka,
          log.serde,
          relayTopic,
          relayEnds.map((p) => ({ partition: p.partition, offset: '0' })),
          {
            keep: () => true,
            done: (events) =>
              relayEnds.every(
                (end) =>
                  end.high === '0' ||
                  events.some(
                    (e) => e.partition === end.partition && BigInt(e.offset) + 1n >= BigInt(end.high),
                  ),
              ),
            timeoutMs: 120_000,
          },
        );
        const relayedVersions = new Map<string, number[]>();
        const relayedIds = new Map<string, string>();
        let relayDuplicates = 0;
        for (const { event } of relayed) {
          const { eventId, aggregateId, aggregateVersion } = event.metadata;
          const identity = `${aggregateId}:${aggregateVersion}`;
          if (relayedIds.has(eventId)) {
            assert.equal(relayedIds.get(eventId), identity, 'a re-published event is the same event');
            relayDuplicates++;
            continue;
          }
          relayedIds.set(eventId, identity);
          relayedVersions.set(aggregateId, [...(relayedVersions.get(aggregateId) ?? []), aggregateVersion]);
        }
        const relayAppended = [...histories.values()].reduce((sum, n) => sum + n, 0);

        // The projectors catch up on the surviving brokers: every image, once.
        await waitForCaughtUp(db.pool, log, names, 180_000);
        await sleep(500);
        reading = false;
        await readers;
        const expected = imagesBefore + sent;
        const counted = (await queries.getUsage(tenantId))?.images;
        const index = await openActiveVectorIndex(db);
        t.after(() => index.close());
        const searchable = await index.count(collection);
        // A clean build of the final log, for comparison: nothing applied twice, nothing skipped.
        const reference = await createProjectionDatabase(t);
        const clean = names.map((name) =>
          startProjectionService(projectionDefinitions[name]!, {
            ...runtime,
            deps: reference.deps,
            databaseUrl: reference.url,
            groupPrefix: `${log.groupPrefix}-reference`,
            log: reference.log,
            pollIntervalMs: 200,
          }),
        );
        await waitForCaughtUp(reference.pool, log, names, 180_000);
        await Promise.all([...clean, ...services].map((s) => s.stop()));
        const inLog = (await createMetadataQueries(reference.pool).getUsage(tenantId))?.images;
        // Straight from Kafka: which of the acknowledged images have their ImageUploaded/Embedded records.
        const keys = new Set<string>();
        const reader = kafka.consumer({ groupId: `${base}.count` });
        await reader.connect();
        await reader.subscribe({ topic: topics.image, fromBeginning: true });
        const ends = await admin.fetchTopicOffsets(topics.image);
        const total = ends.reduce((sum, p) => sum + Number(p.high), 0);
        let read = 0;
        await reader.run({
          eachMessage: async ({ message }) => {
            read++;
            if (message.key) keys.add(message.key.toString());
          },
        });
        for (const deadline = Date.now() + 60_000; read < total && Date.now() < deadline;) await sleep(100);
        await reader.disconnect();
        const missing = Array.from({ length: sent }, (_, i) => i).filter(
          (i) => !keys.has(deterministicUuid('kill', 'more', tenantId, String(i))),
        );
        t.diagnostic(
          `killed broker ${victim} after ${sentAtKill} images; acknowledged ${sent} (+${imagesBefore} before), ${failedSends} sends retried, longest stall ${longestStall} ms, 200 more acknowledged ${resumedAfterMs} ms after the kill; counted ${counted}, searchable ${searchable}, a clean build of the log ${inLog}; ${total} records in the image topic, acknowledged images without a record: ${missing.length ? missing.join(', ') : 'none'}; ${stats.searches} searches, ${stats.searchErrors} failed; the relay published ${relay.published} events (${relayAppended} appended by ${histories.size} tenants, ${relayedIds.size} distinct in its topic, ${relayDuplicates} re-published, ${relayErrors} relay errors)`,
        );
        for (const [tenantId, versions] of histories)
          assert.deepEqual(
            relayedVersions.get(tenantId),
            Array.from({ length: versions }, (_, i) => i + 1),
            `tenant ${tenantId}: every event the relay marked published is in the log, in order`,
          );
        assert.equal(relayedIds.size, relayAppended, 'the relay topic holds exactly the appended events');
        assert.deepEqual(await failuresOf(db.pool), [], 'no record was skipped');
        assert.deepEqual(missing, [], 'every acknowledged image is in the log');
        assert.equal(inLog, expected, 'a clean build counts every acknowledged image');
        assert.equal(counted, expected, 'every image counted');
        assert.equal(searchable, searchableBefore + sent, 'every image searchable');
        assert.deepEqual(await dumpReadModels(db.pool), await dumpReadModels(reference.pool));
        assert.equal(stats.searchErrors, 0, 'no search failed');
        assert.equal(stats.empty, 0, 'every search answered in full');
        assert.ok(stats.searches > 20, `searches ran throughout (${stats.searches})`);
        assert.ok(
          longestStall < retryBudgetMs,
          `the longest ingest stall, ${longestStall} ms, is within the retry budget`,
        );
      },
    );
  },
);
