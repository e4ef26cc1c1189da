/**
 * Worker instances added and removed under continuous load on a three-broker cluster of the
 * test's own (replication factor 3, min.insync.replicas 2): uploads go through the write side
 * (commands → outbox → relay), embedder processes (embedder/src/main.ts, as a user runs them)
 * share the image topic's six partitions in one consumer group — one, then a second and a third
 * added mid-load, one stopped gracefully (SIGTERM: it leaves the group) and one killed while it
 * embeds (SIGKILL: the group waits out its session, another member redoes its uncommitted
 * uploads) — while a second projector instance is added and the first removed (projectors hand
 * over by their generation lock, active/standby).
 * Partitions move between the embedders (every GROUP_JOIN recorded from their logs), every image
 * has exactly one result record in the log (a redone upload's command is answered by its
 * idempotency key, and the write side refuses a second embedding of the same model version), and
 * the read models and vectors equal a clean build of the final log (nothing applied twice).
 * A few minutes: scripts/test.ts runs the file after the rest of the suite, alone
 * (`npm test`, or `npm run test:int -- rebalance`); DEEPLENS_CLUSTER=0 skips it.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import { createCommandHandler } from '@deeplens/commands/commandHandler';
import { limitsOf } from '@deeplens/commands/tenant/plans';
import { tenantDecider } from '@deeplens/commands/tenant/tenantDecider';
import { createWriteModelDatabase } from '@deeplens/commands/testing/writeModelDatabase';
import { imageAggregate, tenantAggregate } from '@deeplens/commands/writeModelRules';
import { buildDefaultModel } from '@deeplens/embedder/buildDefaultModel';
import { createEventSerde, registrySchemaStore } from '@deeplens/events/eventSerde';
import { readEvents } from '@deeplens/events/testing/readEvents';
import { topicsWithPrefix } from '@deeplens/events/topics';
import { loadConfig } from '@deeplens/platform/config';
import { sql } from '@deeplens/platform/database';
import { deterministicUuid } from '@deeplens/platform/ids';
import { createKafka, ensureTopics } from '@deeplens/platform/kafka';
import { fileSystemObjectStore } from '@deeplens/platform/objectStore';
import { createSchemaRegistry } from '@deeplens/platform/schemaRegistry';
import { createSecretBox } from '@deeplens/platform/secrets';
import { createTenantStorageResolver } from '@deeplens/platform/tenantStorage';
import { uniqueName } from '@deeplens/platform/testing/testTopics';
import { createMetadataQueries } from '@deeplens/projections/metadataQueries';
import { projectionDefinitions } from '@deeplens/projections/projectionRuntime';
import { startProjectionService, type ProjectionService } from '@deeplens/projections/projectionService';
import {
  createProjectionDatabase,
  dumpReadModels,
  dumpVectors,
  failuresOf,
  openActiveVectorIndex,
  waitForCaughtUp,
  type TestLog,
} from '@deeplens/projections/testing/projectionTestKit';
import { createOutboxRelay } from '@deeplens/commands/outbox/outboxRelay';
import { retryKafka, waitForTopicsOnEveryBroker } from '@deeplens/platform/kafkaRetry';
import { startPrivateKafkaCluster, type PrivateKafkaCluster } from './testing/privateKafkaCluster.ts';

const cluster = process.env.DEEPLENS_CLUSTER !== '0';
const names = ['metadata', 'usage', 'vectors'];
const partitions = 6;
const repoRoot = join(import.meta.dirname, '..', '..');
const photos = join(repoRoot, 'embedder', 'fixtures', 'photos');
const photoNames = [
  'astronaut.jpg',
  'chelsea.jpg',
  'coffee.jpg',
  'rocket.jpg',
  'motorcycle.jpg',
  'raccoon_face.jpg',
  'grace_hopper.jpg',
  'hubble_deep_field.jpg',
];

/** One GROUP_JOIN of an embedder instance's consumer: the image partitions it was given. */
type Join = { member: string; at: number; partitions: number[] };

/** A JSON log line's message and assignment (the runtime logs `assigned` on each GROUP_JOIN). */
function parseLine(line: string): { msg?: unknown; assignment?: Record<string, number[]> } | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as { msg?: unknown; assignment?: Record<string, number[]> };
  } catch {
    return undefined;
  }
}

/** Waits for `condition`, polling; fails naming `what` after `timeoutMs`. */
async function until(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 120_000,
  detail: () => string = () => '',
) {
  for (const deadline = Date.now() + timeoutMs; !(await condition()); await sleep(100))
    assert.ok(Date.now() < deadline, `timed out waiting until ${what}\n${detail()}`);
}

describe(
  'three-broker cluster: worker instances added and removed under load',
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

    it('rebalances the embedders’ partitions; every image has one result, applied once', async (t) => {
      const startedAt = Date.now();
      const config = { ...loadConfig(), KAFKA_BROKERS: kafkaCluster.brokers };
      const kafka = createKafka(config, 'rebalance-test');
      const prefix = `${uniqueName('rebal')}.`;
      const topics = topicsWithPrefix(prefix);
      const admin = kafka.admin();
      await admin.connect();
      t.after(() => admin.disconnect());
      const ours = [topics.tenant, topics.identity, topics.image, topics.embedderDlq];
      await retryKafka(() =>
        ensureTopics(
          admin,
          ours.map((topic) => ({ topic, partitions })),
          { replicationFactor: 3, minInsyncReplicas: 2 },
        ),
      );
      await waitForTopicsOnEveryBroker(admin, ours);
      const serde = createEventSerde(
        registrySchemaStore(createSchemaRegistry(config), config.SCHEMA_REGISTRY_URL),
      );

      // The write side: a write model of its own, its outbox relayed to the cluster's topics.
      const writeModel = await createWriteModelDatabase(t);
      const handler = createCommandHandler({ pool: writeModel.pool });
      const relayProducer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await relayProducer.connect();
      t.after(() => relayProducer.disconnect());
      const relay = createOutboxRelay({
        databaseUrl: writeModel.url,
        producer: relayProducer,
        serde,
        topicPrefix: prefix,
        pollIntervalMs: 100,
      });
      relay.start();
      t.after(() => relay.stop());
      const origin = { actor: 'system:test' } as const;
      const tenantId = deterministicUuid('rebalance', prefix, 'tenant');
      await handler.handle(
        tenantAggregate,
        {
          type: 'ProvisionTenant',
          data: {
            tenantId,
            slug: `rebalance-${randomBytes(4).toString('hex')}`,
            name: 'Rebalance',
            plan: 'pro',
          },
        },
        origin,
      );
      const objectsDir = await mkdtemp(join(tmpdir(), 'deeplens-rebalance-objects-'));
      t.after(() => rm(objectsDir, { recursive: true, force: true }));
      const storageOf = createTenantStorageResolver(
        config,
        fileSystemObjectStore(objectsDir),
        createSecretBox(randomBytes(32)),
      );
      const storage = storageOf((await handler.load(tenantDecider, tenantId)) as never);
      await storage.store.ensureBucket(storage.bucket);
      const stored = await Promise.all(
        photoNames.map(async (name) => {
          const bytes = await readFile(join(photos, name));
          const sha256 = createHash('sha256').update(bytes).digest('hex');
          await storage.store.put(storage.bucket, storage.keyOf(sha256), bytes, 'image/jpeg');
          return { name, sha256, bytes: bytes.length };
        }),
      );

      // Projector instances (active/standby per projection) on the same log.
      const db = await createProjectionDatabase(t);
      const log: TestLog = {
        kafka,
        serde,
        topics: { tenant: topics.tenant, identity: topics.identity, image: topics.image },
        list: [topics.tenant, topics.identity, topics.image],
        groupPrefix: `${prefix}projectors`,
        producer: relayProducer,
      };
      const runtime = {
        kafka,
        serde,
        deps: db.deps,
        databaseUrl: db.url,
        topics: log.list,
        groupPrefix: log.groupPrefix,
        log: db.log,
        pollIntervalMs: 200,
        sessionTimeoutMs: 10_000,
      };
      const projectors = new Set<ProjectionService[]>();
      t.after(() => Promise.all([...projectors].flat().map((s) => s.stop())));
      const addProjector = () => {
        const services = names.map((name) => startProjectionService(projectionDefinitions[name]!, runtime));
        projectors.add(services);
        return services;
      };
      const removeProjector = async (services: ProjectionService[]) => {
        await Promise.all(services.map((s) => s.stop()));
        projectors.delete(services);
      };
      const runsEverything = (services: ProjectionService[]) =>
        services.every((s) => s.generation !== undefined);

      // Embedder instances in one consumer group: processes started from embedder/src/main.ts,
      // as a user runs them; each one's GROUP_JOINs recorded from its log ("assigned", debug).
      const built = await buildDefaultModel();
      const joins: Join[] = [];
      const secretsDir = await mkdtemp(join(tmpdir(), 'deeplens-rebalance-secrets-'));
      t.after(() => rm(secretsDir, { recursive: true, force: true }));
      const { METRICS_PORT: _metricsPort, ...inherited } = process.env;
      const embedderEnv = {
        ...inherited,
        DATABASE_URL: writeModel.url,
        KAFKA_BROKERS: kafkaCluster.brokers.join(','),
        KAFKA_TOPIC_PREFIX: prefix,
        KAFKA_TOPIC_PARTITIONS: String(partitions),
        KAFKA_REPLICATION_FACTOR: '3',
        KAFKA_MIN_INSYNC_REPLICAS: '2',
        OBJECT_STORE: 'fs',
        OBJECT_STORE_DIR: objectsDir,
        SECRETS_DIR: secretsDir,
        EMBEDDER_MODEL_MANIFEST: built.manifestPath,
        EMBEDDER_BATCH_SIZE: '8',
        EMBEDDER_INTRA_OP_THREADS: '1',
        EMBEDDER_MAX_ATTEMPTS: '3',
        LOG_LEVEL: 'debug',
      };
      type Embedder = {
        member: string;
        child: ChildProcess;
        output: string[];
        embedded: number;
        /** SIGKILLed on the log line of this many embedded: mid-slice, its offsets uncommitted. */
        killAt?: number;
      };
      const embedders: Embedder[] = [];
      const live = new Set<Embedder>();
      const exited = (child: ChildProcess) =>
        child.exitCode !== null || child.signalCode !== null
          ? Promise.resolve()
          : new Promise<void>((resolve) => child.once('exit', () => resolve()));
      t.after(async () => {
        for (const e of live) e.child.kill('SIGKILL');
        await Promise.all(embedders.map((e) => exited(e.child)));
      });
      const addEmbedder = (member: string): Embedder => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'embedder/src/main.ts'], {
          cwd: repoRoot,
          env: embedderEnv,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        const embedder: Embedder = { member, child, output: [], embedded: 0 };
        for (const stream of [child.stdout, child.stderr]) {
          let partial = '';
          stream.on('data', (chunk: Buffer) => {
            const lines = (partial + chunk.toString()).split('\n');
            partial = lines.pop() ?? '';
            for (const line of lines) {
              embedder.output.push(line);
              if (embedder.output.length > 200) embedder.output.shift();
              const entry = parseLine(line);
              if (entry?.msg === 'image embedded' || entry?.msg === 'image embedding failed') {
                embedder.embedded++;
                if (embedder.embedded === embedder.killAt) child.kill('SIGKILL');
              }
              if (entry?.msg === 'assigned' && entry.assignment)
                joins.push({
                  member,
                  at: Date.now(),
                  partitions: [...(entry.assignment[topics.image] ?? [])].sort((a, b) => a - b),
                });
            }
          });
        }
        embedders.push(embedder);
        live.add(embedder);
        return embedder;
      };
      /** SIGTERM: the process leaves the group; SIGKILL: the group waits out its session. */
      const removeEmbedder = async (embedder: Embedder, signal: 'SIGTERM' | 'SIGKILL') => {
        live.delete(embedder);
        embedder.child.kill(signal);
        await exited(embedder.child);
      };
      /** Results the write side accepted so far (a redone upload is answered, not recorded again). */
      const results = () =>
        writeModel.pool.oneFirst(
          sql.type(z.object({ n: z.number() }))`
            select count(*)::int8 as n from write.outbox
            where event_type in ('ImageEmbedded', 'ImageEmbeddingFailed')`,
        );
      /**
       * Whether the live instances' latest joins, each after `since`, share out every partition
       * of the image topic between them, each partition to one.
       */
      const sharedOut = (since: number) => {
        const latest = [...live].map((e) =>
          joins.filter((j) => j.member === e.member && j.at >= since).at(-1),
        );
        if (latest.some((j) => j === undefined)) return false;
        const held = latest.flatMap((j) => j!.partitions).sort((a, b) => a - b);
        return held.join() === Array.from({ length: partitions }, (_, i) => i).join();
      };
      const diagnose = () =>
        embedders.map((e) => `--- ${e.member}\n${e.output.slice(-20).join('\n')}`).join('\n');
      const assignmentOf = (member: string) => joins.filter((j) => j.member === member).at(-1)?.partitions;

      // Continuous uploads through the write side, kept at most 24 ahead of the embedders.
      let uploading = true;
      let uploaded = 0;
      const imageIds: string[] = [];
      const uploader = (async () => {
        while (uploading) {
          if (uploaded - (await results()) > 24) {
            await sleep(50);
            continue;
          }
          for (let i = 0; i < 4; i++) {
            const photo = stored[uploaded % stored.length]!;
            const imageId = deterministicUuid('rebalance', prefix, String(uploaded));
            await handler.handle(
              imageAggregate,
              {
                type: 'UploadImage',
                data: {
                  tenantId,
                  imageId,
                  objectKey: storage.keyOf(photo.sha256),
                  sha256: photo.sha256,
                  mime: 'image/jpeg',
                  bytes: photo.bytes,
                  width: 512,
                  height: 512,
                  filename: photo.name,
                  tags: [],
                  attributes: {},
                  source: 'http',
                  tenant: { status: 'active', limits: limitsOf('pro') },
                },
              },
              origin,
            );
            imageIds.push(imageId);
            uploaded++;
          }
          await sleep(100);
        }
      })();
      const waitFor = (what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 120_000) =>
        until(what, condition, timeoutMs, diagnose);
      const moreResults = async (what: string, n: number) => {
        const target = (await results()) + n;
        await waitFor(`${what}: ${n} more results`, async () => (await results()) >= target);
      };

      // One of each; then a second and a third embedder join, a second projector stands by.
      const firstProjector = addProjector();
      await until('the first projector runs every projection', () => runsEverything(firstProjector));
      let since = Date.now();
      const e1 = addEmbedder('e1');
      await waitFor('e1 holds every partition', () => sharedOut(since));
      await moreResults('e1 alone', 12);
      since = Date.now();
      const e2 = addEmbedder('e2');
      await waitFor('e1 and e2 share the partitions', () => sharedOut(since));
      const secondProjector = addProjector();
      await moreResults('e1 and e2', 12);
      assert.ok(!runsEverything(secondProjector), 'the added projector stands by');
      since = Date.now();
      const e3 = addEmbedder('e3');
      await waitFor('e1, e2 and e3 share the partitions', () => sharedOut(since));
      const threeWay = [e1, e2, e3].map((e) => assignmentOf(e.member)?.length ?? 0);
      await moreResults('e1, e2 and e3', 12);
      // The first projector goes mid-load: the second takes over.
      await removeProjector(firstProjector);
      await until('the second projector took over', () => runsEverything(secondProjector));
      // e2 leaves gracefully (SIGTERM); then e3 is killed (SIGKILL) while it embeds.
      since = Date.now();
      await removeEmbedder(e2, 'SIGTERM');
      await waitFor('e1 and e3 share the partitions', () => sharedOut(since));
      await moreResults('e1 and e3', 12);
      e3.killAt = e3.embedded + 3;
      await waitFor('e3 embeds', () => e3.child.signalCode === 'SIGKILL');
      since = Date.now();
      const e3Busy = e3.embedded;
      await removeEmbedder(e3, 'SIGKILL');
      // The group waits out the dead member's session (the consumer's default, 30 s).
      await waitFor('e1 holds every partition again', () => sharedOut(since));
      await moreResults('e1 alone again', 12);
      uploading = false;
      await uploader;

      // Every upload gets its result; read the image topic to its end once the outbox is drained.
      const unpublished = () =>
        writeModel.pool.oneFirst(
          sql.type(
            z.object({ n: z.number() }),
          )`select count(*)::int8 as n from write.outbox where published_at is null`,
        );
      await waitFor('every upload has a result', async () => (await results()) >= uploaded, 180_000);
      await until('the relay drained its outbox', async () => (await unpublished()) === 0);
      await removeEmbedder(e1, 'SIGTERM');
      await until(
        'the relay drained its outbox after the last embedder',
        async () => (await unpublished()) === 0,
      );
      const ends = await admin.fetchTopicOffsets(topics.image);
      const records = await readEvents(
        kafka,
        serde,
        topics.image,
        ends.map((p) => ({ partition: p.partition, offset: '0' })),
        {
          keep: () => true,
          done: (events) =>
            ends.every(
              (end) =>
                end.high === '0' ||
                events.some(
                  (e) => e.partition === end.partition && BigInt(e.offset) + 1n >= BigInt(end.high),
                ),
            ),
          timeoutMs: 120_000,
        },
      );
      const perImage = new Map<string, { results: number; thumbnails: number; eventIds: Set<string> }>();
      for (const { event } of records) {
        if (!['ImageEmbedded', 'ImageEmbeddingFailed', 'ThumbnailGenerated'].includes(event.type)) continue;
        const entry = perImage.get(event.metadata.aggregateId) ?? {
          results: 0,
          thumbnails: 0,
          eventIds: new Set(),
        };
        if (event.type === 'ThumbnailGenerated') entry.thumbnails++;
        else entry.results++;
        entry.eventIds.add(event.metadata.eventId);
        perImage.set(event.metadata.aggregateId, entry);
      }
      const embeddedRecords = records.filter((r) => r.event.type === 'ImageEmbedded').length;
      const failedRecords = records.filter((r) => r.event.type === 'ImageEmbeddingFailed').length;

      // The projector catches up; a clean build of the final log to compare with.
      await waitForCaughtUp(db.pool, log, names, 180_000);
      await removeProjector(secondProjector);
      const reference = await createProjectionDatabase(t);
      const clean = names.map((name) =>
        startProjectionService(projectionDefinitions[name]!, {
          ...runtime,
          deps: reference.deps,
          databaseUrl: reference.url,
          groupPrefix: `${log.groupPrefix}-reference`,
          log: reference.log,
        }),
      );
      t.after(() => Promise.all(clean.map((s) => s.stop())));
      await waitForCaughtUp(reference.pool, log, names, 180_000);
      await Promise.all(clean.map((s) => s.stop()));
      const handed = await openActiveVectorIndex(db);
      const fresh = await openActiveVectorIndex(reference);
      t.after(() => Promise.all([handed.close(), fresh.close()]));
      const usage = await createMetadataQueries(db.pool).getUsage(tenantId);

      // e1 lived throughout: it joined every generation of the group once.
      const rebalances = joins.filter((j) => j.member === 'e1').length - 1;
      const byMember = (member: string) =>
        joins
          .filter((j) => j.member === member)
          .map((j) => j.partitions.length)
          .join('→');
      const inferences = embedders.reduce((sum, e) => sum + e.embedded, 0);
      console.log(
        `rebalance: ${uploaded} images uploaded, ${records.length} records in the image topic (${embeddedRecords} ImageEmbedded, ${failedRecords} ImageEmbeddingFailed); ${inferences} uploads embedded by the instances (${inferences - uploaded} redone after a hand-over, answered by the idempotency key); ${rebalances} rebalances (${joins.length} GROUP_JOINs); partitions per join e1 ${byMember('e1')}, e2 ${byMember('e2')}, e3 ${byMember('e3')} (three-way ${threeWay.join('/')}); e3 killed after ${e3Busy} embedded; projectors handed over once; ${usage?.images} images counted; ${Math.round((Date.now() - startedAt) / 1000)} s`,
      );

      // Partitions moved: three members held partitions at once, e1's share changed with each step.
      assert.deepEqual(
        threeWay.map((n) => n > 0),
        [true, true, true],
        'e1, e2 and e3 each held partitions',
      );
      const e1Shares = joins.filter((j) => j.member === 'e1').map((j) => j.partitions.length);
      let step = 0;
      for (const share of e1Shares) if (share === [6, 3, 2, 3, 6][step]) step++;
      assert.equal(
        step,
        5,
        `e1's share followed the members: alone, two, three, two, alone (${e1Shares.join('→')})`,
      );
      // Each image once in the log: one result record (the write side refuses a second embedding
      // of the same model version, and a redone upload's command is answered by its idempotency key).
      assert.equal(perImage.size, uploaded, 'every upload has its result in the log');
      for (const imageId of imageIds) {
        const entry = perImage.get(imageId);
        assert.equal(entry?.results, 1, `image ${imageId}: one result record`);
        assert.ok((entry?.thumbnails ?? 0) <= 1, `image ${imageId}: at most one thumbnail record`);
      }
      assert.equal(failedRecords, 0, 'every photo embedded');
      assert.equal(
        records.length,
        new Set(records.map((r) => r.event.metadata.eventId)).size,
        'no event published twice',
      );
      // Applied once: the handed-over read models and vectors equal a clean build of the log.
      assert.deepEqual(await failuresOf(db.pool), [], 'no record was skipped');
      assert.deepEqual(await dumpReadModels(db.pool), await dumpReadModels(reference.pool));
      assert.deepEqual(await dumpVectors(handed), await dumpVectors(fresh));
      assert.equal(usage?.images, uploaded, 'every image counted once');
      assert.equal(
        await handed.count((await handed.collections())[0]!),
        uploaded,
        'every image searchable once',
      );
    });
  },
);
