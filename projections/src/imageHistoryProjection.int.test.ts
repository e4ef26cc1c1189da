import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { ImageEvent } from '@deeplens/events/imageEvents';
import { createEventSerde, registrySchemaStore } from '@deeplens/events/eventSerde';
import { sql, type DatabasePool } from '@deeplens/platform/database';
import { memoryDataKeyStore } from '@deeplens/platform/dataKeys';
import { loadConfig } from '@deeplens/platform/config';
import { createSchemaRegistry } from '@deeplens/platform/schemaRegistry';
import { imageHistoryProjection } from './imageHistoryProjection.ts';
import { createImageHistoryQueries } from './imageHistoryQueries.ts';
import { startProjectionService } from './projectionService.ts';
import { rebuildProjection } from './rebuildProjection.ts';
import {
  createProjectionDatabase,
  createTestLog,
  failuresOf,
  produceEvents,
  waitForCaughtUp,
} from './testing/projectionTestKit.ts';
import { syntheticLog } from './testing/syntheticLog.ts';

const row = z.object({ row: z.string() });

/** Every row of the active history read model, in a stable order. */
async function dumpHistory(pool: DatabasePool): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const table of ['image_events', 'images', 'deleted_tenants']) {
    out[table] = [
      ...(await pool.anyFirst(sql.type(row)`
        select to_jsonb(t)::text as row from ${sql.identifier(['history', table])} t order by 1`)),
    ];
  }
  return out;
}

describe('image history projection', () => {
  it('holds every image event of the live tenants once, none of the erased one; a rebuild and a replay from -1 change nothing; a dropped one heals', async (t) => {
    const db = await createProjectionDatabase(t);
    const config = loadConfig();
    // The synthetic log has users and tenant names: sealed on the way in, opened by the projection.
    const log = {
      ...(await createTestLog(t)),
      serde: createEventSerde(registrySchemaStore(createSchemaRegistry(config), config.SCHEMA_REGISTRY_URL), {
        dataKeys: memoryDataKeyStore(),
      }),
    };
    const events = syntheticLog({
      seed: 'hist',
      tenants: 3,
      imagesPerTenant: 150,
      dim: 4,
      eraseLastTenant: true,
    });
    await produceEvents(log, events);
    const runtime = {
      kafka: log.kafka,
      serde: log.serde,
      deps: db.deps,
      databaseUrl: db.url,
      topics: log.list,
      groupPrefix: log.groupPrefix,
      log: db.log,
    };
    const live = startProjectionService(imageHistoryProjection, { ...runtime, pollIntervalMs: 200 });
    try {
      await waitForCaughtUp(db.pool, log, ['history'], 180_000);
    } finally {
      await live.stop();
    }

    const imageEvents = events.filter(
      (e): e is ImageEvent => e.type.startsWith('Image') || e.type === 'ThumbnailGenerated',
    );
    const erased = new Set(events.filter((e) => e.type === 'TenantDeleted').map((e) => e.metadata.tenantId));
    assert.equal(erased.size, 1);
    const kept = imageEvents.filter((e) => !erased.has(e.data.tenantId));
    const whole = await dumpHistory(db.pool);
    assert.equal(whole['image_events']!.length, kept.length, 'one row per image event of the live tenants');
    assert.deepEqual(
      whole['deleted_tenants']!.map((r) => JSON.parse(r) as unknown),
      [{ tenant_id: [...erased][0] }],
    );
    assert.ok(
      !whole['image_events']!.some((r) => erased.has((JSON.parse(r) as { tenant_id: string }).tenant_id)),
    );
    assert.deepEqual(await failuresOf(db.pool), []);

    // One image's history through the queries: its events in version order, nothing else.
    const sample = kept.find((e) => e.type === 'ImageMetadataUpdated')!;
    const ofSample = kept.filter((e) => e.data.imageId === sample.data.imageId);
    const queries = createImageHistoryQueries(db.pool);
    const page = await queries.imageHistory(sample.data.tenantId, sample.data.imageId, { limit: 500 });
    assert.deepEqual(
      page?.items.map((i) => [i.version, i.type, i.eventId]),
      ofSample.map((e) => [e.metadata.aggregateVersion, e.type, e.metadata.eventId]),
    );
    const otherTenant = kept.find((e) => e.data.tenantId !== sample.data.tenantId)!.data.tenantId;
    assert.equal(
      await queries.imageHistory(otherTenant, sample.data.imageId),
      undefined,
      'scoped to its tenant',
    );

    // A rebuild from offset 0 into a new generation ends equal to the live one.
    const rebuilt = await rebuildProjection(imageHistoryProjection, { ...runtime, dropAfterMs: 100 });
    t.diagnostic(
      `history rebuild: ${rebuilt.records} records in ${rebuilt.seconds.toFixed(2)} s (${Math.round(rebuilt.records / rebuilt.seconds)} records/s; ${kept.length} history rows)`,
    );
    assert.deepEqual(await dumpHistory(db.pool), whole, 'the rebuilt history equals the live one');

    // Replaying the whole log over what is there (every checkpoint back to -1) changes nothing.
    await db.pool.query(sql.unsafe`
      update projections.checkpoints set "offset" = -1
      where projection = 'history' and generation = ${rebuilt.generation}`);
    const replay = startProjectionService(imageHistoryProjection, { ...runtime, pollIntervalMs: 200 });
    try {
      await waitForCaughtUp(db.pool, log, ['history'], 180_000);
    } finally {
      await replay.stop();
    }
    assert.deepEqual(await dumpHistory(db.pool), whole, 'a replay past the checkpoint adds nothing');
    assert.deepEqual(await failuresOf(db.pool), []);

    // A dropped read model comes back at the next start (readModelHealth), not empty.
    await db.pool.query(sql.unsafe`drop schema history cascade`);
    const healing = startProjectionService(imageHistoryProjection, { ...runtime, pollIntervalMs: 200 });
    try {
      for (const deadline = Date.now() + 120_000; ;) {
        const dump = await dumpHistory(db.pool).catch(() => undefined);
        if (JSON.stringify(dump) === JSON.stringify(whole)) break;
        assert.ok(Date.now() < deadline, 'the dropped history comes back as it was');
        await sleep(200);
      }
    } finally {
      await healing.stop();
    }
  });
});
