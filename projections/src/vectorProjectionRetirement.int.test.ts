import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import type { DeepLensEvent } from '@deeplens/events/domainEvent';
import type { EmbeddingSpaceRetired } from '@deeplens/events/embeddingSpaceEvents';
import type { ImageEmbedded } from '@deeplens/events/imageEvents';
import { sql, type DatabasePool } from '@deeplens/platform/database';
import { deterministicUuid } from '@deeplens/platform/ids';
import type { VectorIndex } from '@deeplens/platform/vectorIndex';
import { projectionDefinitions } from './projectionRuntime.ts';
import { startProjectionService } from './projectionService.ts';
import { rebuildProjection } from './rebuildProjection.ts';
import {
  createProjectionDatabase,
  createTestLog,
  failuresOf,
  openActiveVectorIndex,
  produceEvents,
  testVectorStores,
  type ProjectionTestDatabase,
  waitForCaughtUp,
} from './testing/projectionTestKit.ts';
import { syntheticLog, testModel } from './testing/syntheticLog.ts';
import { createVectorQueries } from './vectorQueries.ts';

const v1 = testModel;
const v2 = { modelId: testModel.modelId, modelVersion: '2.0.0' };
const catchUpMs = 180_000;

/** The live images embedded again in `space` (as a move does), each a new event. */
function embeddedIn(events: readonly DeepLensEvent[], space: typeof v2, seed: string): ImageEmbedded[] {
  const deleted = new Set(events.flatMap((e) => (e.type === 'ImageDeleted' ? [e.data.imageId] : [])));
  return events
    .filter((e): e is ImageEmbedded => e.type === 'ImageEmbedded' && !deleted.has(e.data.imageId))
    .map((e) => ({
      ...e,
      data: { ...e.data, ...space, vector: e.data.vector.map((x) => -x) },
      metadata: {
        ...e.metadata,
        eventId: deterministicUuid(seed, e.metadata.eventId),
        aggregateVersion: e.metadata.aggregateVersion + 100,
      },
    }));
}

const spaceRows = z.object({ model_version: z.string(), n: z.number() });

async function statusRowsBySpace(pool: DatabasePool): Promise<Record<string, number>> {
  const rows = await pool.any(sql.type(spaceRows)`
    select model_version, count(*)::int as n from vector_status.image_vectors group by model_version`);
  return Object.fromEntries(rows.map((r) => [r.model_version, r.n]));
}

async function collectionsBySpace(index: VectorIndex): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const collection of await index.collections()) {
    const space = collection.split('__')[1]!;
    if (space === 'images') continue;
    out[space] = (out[space] ?? 0) + (await index.count(collection));
  }
  return out;
}

describe('vector projection: a retired embedding space', () => {
  for (const { store, skip } of testVectorStores)
    it(
      `drops the space's vectors and status rows, skips its later embeddings, and a rebuild or a fresh build from offset 0 does not bring it back (${store})`,
      { skip },
      async (t) => {
        const db = await createProjectionDatabase(t, { vectorStore: store });
        const log = await createTestLog(t);
        const dim = 8;
        const first = syntheticLog({ seed: 'retire', tenants: 2, imagesPerTenant: 30, dim });
        const inV2 = embeddedIn(first, v2, 'v2');
        await produceEvents(log, [...first, ...inV2]);
        const runtime = {
          kafka: log.kafka,
          serde: log.serde,
          deps: db.deps,
          databaseUrl: db.url,
          topics: log.list,
          groupPrefix: log.groupPrefix,
          log: db.log,
        };
        const vectors = projectionDefinitions.vectors!;
        const live = startProjectionService(vectors, { ...runtime, pollIntervalMs: 200 });
        t.after(() => live.stop());
        await waitForCaughtUp(db.pool, log, ['vectors'], catchUpMs);

        const before = await statusRowsBySpace(db.pool);
        assert.ok((before[v1.modelVersion] ?? 0) > 0, 'images are indexed in v1');
        assert.equal(before[v2.modelVersion], before[v1.modelVersion], 'and in v2');
        const index = await openActiveVectorIndex(db);
        t.after(() => index.close());
        const indexed = await collectionsBySpace(index);
        assert.equal(indexed[`${v1.modelId}@${v1.modelVersion}`], before[v1.modelVersion]);

        // v1 retired, then a late v1 embedding of an image (an embedder still on v1): skipped.
        const retired: EmbeddingSpaceRetired = {
          type: 'EmbeddingSpaceRetired',
          data: { ...v1, replacedBy: `${v2.modelId}@${v2.modelVersion}` },
          metadata: {
            eventId: deterministicUuid('retire', 'retired'),
            aggregateId: `embedding-space:${v1.modelId}@${v1.modelVersion}`,
            aggregateVersion: 1,
            tenantId: null,
            occurredAt: Date.UTC(2025, 6, 1),
            correlationId: deterministicUuid('retire', 'retired'),
            causationId: null,
            actor: 'system:test',
          },
        };
        const late = embeddedIn(first, v1, 'late').slice(0, 5);
        await produceEvents(log, [retired, ...late]);
        await waitForCaughtUp(db.pool, log, ['vectors'], catchUpMs);

        const expectRetired = async (target: ProjectionTestDatabase, what: string) => {
          const { pool } = target;
          const rows = await statusRowsBySpace(pool);
          assert.equal(rows[v1.modelVersion], undefined, `${what}: no status row of v1`);
          assert.equal(rows[v2.modelVersion], before[v2.modelVersion], `${what}: every v2 row stays`);
          const active = await openActiveVectorIndex(target);
          try {
            const spaces = await collectionsBySpace(active);
            assert.deepEqual(
              spaces,
              { [`${v2.modelId}@${v2.modelVersion}`]: before[v2.modelVersion] },
              `${what}: only v2's collections are left, whole`,
            );
          } finally {
            await active.close();
          }
          const retiredRows = await pool.any(
            sql.type(
              z.object({ model_id: z.string(), model_version: z.string(), replaced_by: z.string() }),
            )`select model_id, model_version, replaced_by from vector_status.retired_spaces`,
          );
          assert.deepEqual(retiredRows, [
            {
              model_id: v1.modelId,
              model_version: v1.modelVersion,
              replaced_by: `${v2.modelId}@${v2.modelVersion}`,
            },
          ]);
          // Search still answers from v2.
          const queries = createVectorQueries({ pool, openIndex: target.deps.openVectorIndex! });
          try {
            const probe = inV2[0]!;
            const hits = await queries.search(probe.data.tenantId, v2, probe.data.vector, { k: 3 });
            assert.equal(hits[0]?.id, probe.data.imageId, `${what}: v2 answers, the image first`);
            assert.deepEqual(await queries.search(probe.data.tenantId, v1, probe.data.vector, { k: 3 }), []);
          } finally {
            await queries.close();
          }
        };
        await expectRetired(db, 'live');

        // A rebuild from offset 0 reads v1's embeddings before the retirement: they go again.
        await rebuildProjection(vectors, { ...runtime, dropAfterMs: 200 });
        await expectRetired(db, 'after a rebuild');

        // Every read model and vector folder lost: a fresh build from the log alone.
        const reference = await createProjectionDatabase(t, { vectorStore: store });
        const clean = startProjectionService(vectors, {
          ...runtime,
          deps: reference.deps,
          databaseUrl: reference.url,
          groupPrefix: `${log.groupPrefix}-fresh`,
          log: reference.log,
          pollIntervalMs: 200,
        });
        t.after(() => clean.stop());
        await waitForCaughtUp(reference.pool, log, ['vectors'], catchUpMs);
        await expectRetired(reference, 'built afresh');
        assert.deepEqual(await failuresOf(db.pool), [], 'no event was skipped as poison');
      },
    );
});
