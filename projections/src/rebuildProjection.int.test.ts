import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { sql } from '@deeplens/platform/database';
import { deterministicUuid } from '@deeplens/platform/ids';
import { QdrantClient } from '@qdrant/js-client-rest';
import { z } from 'zod';
import { activeGeneration } from './generations.ts';
import { createMetadataQueries } from './metadataQueries.ts';
import { projectionDefinitions } from './projectionRuntime.ts';
import { startProjectionService } from './projectionService.ts';
import { rebuildProjection } from './rebuildProjection.ts';
import {
  createProjectionDatabase,
  createTestLog,
  dumpReadModels,
  dumpVectors,
  failuresOf,
  openActiveVectorIndex,
  produceEvents,
  testVectorStores,
  waitForCaughtUp,
} from './testing/projectionTestKit.ts';
import { moreImages, syntheticLog, testModel } from './testing/syntheticLog.ts';
import { qdrantAliases } from './qdrantVectorIndex.ts';
import { createVectorQueries } from './vectorQueries.ts';

const names = ['metadata', 'usage', 'vectors'];
/** Qdrant's vector projection sends a request or two per batch: on a loaded 2-core machine, slower. */
const catchUpMs = 180_000;

describe('rebuildProjection', () => {
  for (const { store, skip } of testVectorStores)
    it(
      `rebuilds each projection under continuous ingest: no gap, no duplicate, search answers throughout (${store})`,
      { skip },
      async (t) => {
        const db = await createProjectionDatabase(t, { vectorStore: store });
        const log = await createTestLog(t);
        const dim = 8;
        await produceEvents(log, syntheticLog({ seed: 'rb', tenants: 2, imagesPerTenant: 300, dim }));
        const runtime = {
          kafka: log.kafka,
          serde: log.serde,
          deps: db.deps,
          databaseUrl: db.url,
          topics: log.list,
          groupPrefix: log.groupPrefix,
          log: db.log,
        };
        const live = names.map((name) =>
          startProjectionService(projectionDefinitions[name]!, { ...runtime, pollIntervalMs: 200 }),
        );
        t.after(() => Promise.all(live.map((s) => s.stop())));
        await waitForCaughtUp(db.pool, log, names, catchUpMs);

        // Continuous ingest: new images (uploaded + embedded) for tenant 0 all along.
        const tenantId = deterministicUuid('rb', 'tenant', '0');
        let ingesting = true;
        let ingested = 0;
        const ingest = (async () => {
          while (ingesting) {
            await produceEvents(log, moreImages('rb', tenantId, ingested, 10, dim));
            ingested += 10;
            // ~100 events/s: continuous, yet slow enough that a rebuild on a busy 2-core CI machine
            // catches up instead of chasing a log that grows as fast as it reads.
            await sleep(100);
          }
        })();

        // Readers, all the time: vector search and metadata queries; count failures and empty answers.
        const vectors = createVectorQueries({
          pool: db.pool,
          openIndex: db.deps.openVectorIndex!,
          pollIntervalMs: 100,
        });
        t.after(() => vectors.close());
        const queries = createMetadataQueries(db.pool);
        const probe = Float32Array.from({ length: dim }, (_, i) => Math.cos(i));
        let reading = true;
        const stats = {
          searches: 0,
          searchErrors: 0,
          emptySearches: 0,
          listings: 0,
          listingErrors: 0,
          emptyListings: 0,
          usageMisses: 0,
        };
        const generationsSeen = new Set<number>();
        const readers = (async () => {
          while (reading) {
            try {
              const hits = await vectors.search(tenantId, testModel, probe, {
                k: 10,
                filter: { tags: ['even'] },
              });
              stats.searches++;
              if (hits.length < 10) stats.emptySearches++;
              if (vectors.generation !== undefined) generationsSeen.add(vectors.generation);
            } catch {
              stats.searchErrors++;
            }
            try {
              const page = await queries.listImages(tenantId, { limit: 20 });
              stats.listings++;
              if (page.items.length === 0) stats.emptyListings++;
              if (!(await queries.getUsage(tenantId))?.images) stats.usageMisses++;
            } catch {
              stats.listingErrors++;
            }
            await sleep(5);
          }
        })();

        const results = [];
        // On Qdrant only the vector projection's rebuild differs (a new collection, then the alias).
        for (const name of store === 'qdrant' ? ['vectors'] : names) {
          const before = await activeGeneration(db.pool, name);
          const result = await rebuildProjection(projectionDefinitions[name]!, {
            ...runtime,
            dropAfterMs: 600,
          });
          assert.equal(result.previous, before);
          assert.equal(await activeGeneration(db.pool, name), result.generation);
          results.push(result);
        }
        ingesting = false;
        await ingest;
        await waitForCaughtUp(db.pool, log, names, catchUpMs);
        await sleep(300);
        // Enough searches to count on, however fast the rebuilds went on this machine.
        for (const deadline = Date.now() + 60_000; stats.searches <= 50 && Date.now() < deadline;)
          await sleep(50);
        reading = false;
        await readers;

        // The log holds no poison: a record in `failures` is an event a generation skipped.
        assert.deepEqual(await failuresOf(db.pool), [], 'no event was skipped as poison');

        assert.equal(stats.searchErrors, 0, 'no search failed during the switches');
        assert.equal(stats.listingErrors, 0, 'no metadata query failed during the switches');
        assert.equal(stats.emptySearches, 0, 'every search answered in full');
        assert.equal(stats.emptyListings + stats.usageMisses, 0);
        assert.ok(stats.searches > 50, `searches ran throughout (${stats.searches})`);
        assert.ok(
          generationsSeen.size >= 2,
          'searches were answered by the old and then the new vector generation',
        );

        // Old generations are gone: only the active schemas and vector folder remain.
        const schemas = await db.pool.anyFirst(sql.type(z.object({ nspname: z.string() }))`
      select nspname from pg_namespace where nspname ~ '__g[0-9]+$'`);
        assert.deepEqual(schemas, [], 'the retired generations were dropped');
        if (store === 'qdrant') {
          // A new collection per generation, then an alias switch: the stable aliases name the
          // active generation's collections (re-pointed by the live projector as it follows the
          // switch), and no collection of a retired generation is left.
          const active = await activeGeneration(db.pool, 'vectors');
          const qdrant = { url: db.config.QDRANT_URL!, apiKey: db.config.QDRANT_API_KEY };
          const physical = `${db.vectorNamespace}_g${active}__`;
          const expected = [
            `${db.vectorNamespace}__images`,
            `${db.vectorNamespace}__${testModel.modelId}@${testModel.modelVersion}`,
          ].sort();
          let aliases = new Map<string, string>();
          for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(200)) {
            aliases = await qdrantAliases({ ...qdrant, alias: db.vectorNamespace });
            if (
              [...aliases.values()].every((c) => c.startsWith(physical)) &&
              aliases.size === expected.length
            )
              break;
          }
          assert.deepEqual([...aliases.keys()].sort(), expected);
          for (const [alias, collection] of aliases)
            assert.equal(collection, `${physical}${alias.slice(db.vectorNamespace.length + 2)}`);
          const left = (
            await new QdrantClient({ ...qdrant, checkCompatibility: false }).getCollections()
          ).collections
            .map((c) => c.name)
            .filter((n) => n.startsWith(`${db.vectorNamespace}_g`) && !n.startsWith(physical));
          assert.deepEqual(left, [], "the retired generations' collections were dropped");
        }

        // No gap, no duplicate: the rebuilt read models equal a clean build of the final log.
        const reference = await createProjectionDatabase(t, { vectorStore: store });
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
        await waitForCaughtUp(reference.pool, log, names, catchUpMs);
        await Promise.all(clean.map((s) => s.stop()));
        await Promise.all(live.map((s) => s.stop()));
        assert.deepEqual(await dumpReadModels(db.pool), await dumpReadModels(reference.pool));
        const rebuilt = await openActiveVectorIndex(db);
        const fresh = await openActiveVectorIndex(reference);
        t.after(() => Promise.all([rebuilt.close(), fresh.close()]));
        assert.deepEqual(await dumpVectors(rebuilt), await dumpVectors(fresh));
        const usage = await createMetadataQueries(reference.pool).getUsage(tenantId);
        assert.equal((await queries.getUsage(tenantId))?.images, usage?.images);
        assert.ok(ingested > 0 && results.every((r) => r.records > 0));
      },
    );
});
