import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { z } from 'zod';
import type { DomainEvent } from '@deeplens/events/domainEvent';
import { sql } from '@deeplens/platform/database';
import { deterministicUuid } from '@deeplens/platform/ids';
import { activeGeneration } from './generations.ts';
import { createMetadataQueries, type MetadataQueries } from './metadataQueries.ts';
import { tenantSchemaBase } from './metadataSchema.ts';
import { readCheckpoints } from './postgresProjection.ts';
import { projectionDefinitions } from './projectionRuntime.ts';
import { startProjectionService } from './projectionService.ts';
import { rebuildProjection } from './rebuildProjection.ts';
import {
  createProjectionDatabase,
  createTestLog,
  produceEvents,
  waitForCaughtUp,
} from './testing/projectionTestKit.ts';
import { syntheticLog } from './testing/syntheticLog.ts';

const seed = 'tdb';
const tenant = (t: number) => deterministicUuid(seed, 'tenant', String(t));

/**
 * The synthetic log with tenant 0 provisioned on a dedicated database and tenant 1 moved to
 * one by its change to enterprise; tenant 2 stays in the shared database.
 */
function dedicatedLog(): DomainEvent[] {
  return syntheticLog({ seed, tenants: 3, imagesPerTenant: 15, dim: 4 }).map((event) => {
    if (event.type === 'TenantProvisioned' && event.data.tenantId === tenant(0)) {
      return { ...event, data: { ...event.data, plan: 'enterprise', databaseTarget: 'default' } };
    }
    if (event.type === 'TenantPlanChanged' && event.data.tenantId === tenant(1)) {
      return { ...event, data: { ...event.data, databaseTarget: 'default' } };
    }
    return event;
  });
}

/** The ids of a tenant's images the log leaves standing (uploaded, not deleted). */
function standingImages(log: readonly DomainEvent[], tenantId: string): string[] {
  const ids = new Set<string>();
  for (const e of log) {
    if (e.type === 'ImageUploaded' && e.data.tenantId === tenantId) ids.add(e.data.imageId);
    if (e.type === 'ImageDeleted' && e.data.tenantId === tenantId) ids.delete(e.data.imageId);
  }
  return [...ids].sort();
}

async function listAll(queries: MetadataQueries, tenantId: string): Promise<string[]> {
  const page = await queries.listImages(tenantId, { limit: 500 });
  return page.items.map((i) => i.imageId).sort();
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !(await check().catch(() => false));) {
    assert.ok(Date.now() < deadline, what);
    await sleep(200);
  }
}

describe('a dedicated database per tenant (enterprise)', () => {
  it('holds the tenant rows apart, answers its reads, survives rebuild and loss, and goes with erasure', async (t) => {
    const db = await createProjectionDatabase(t);
    const log = await createTestLog(t);
    const databases = db.deps.tenantDatabases!;
    const events = dedicatedLog();
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
    const service = () =>
      startProjectionService(projectionDefinitions.metadata!, { ...runtime, pollIntervalMs: 100 });
    let running = service();
    t.after(() => running.stop());
    await waitForCaughtUp(db.pool, log, ['metadata']);
    const queries = createMetadataQueries(db.pool, { tenantDatabases: databases });

    // Where the rows live: tenants 0 and 1 each in a database of their own, nothing of them shared.
    const generation = (await activeGeneration(db.pool, 'metadata'))!;
    const expectedDatabases = [0, 1].map((i) => databases.nameOf(tenant(i), generation)).sort();
    assert.deepEqual((await databases.list()).map((d) => d.database).sort(), expectedDatabases);
    const schemas = await db.pool.anyFirst(sql.type(z.object({ nspname: z.string() }))`
      select nspname from pg_namespace where nspname like 'tenant\\_%' order by 1`);
    assert.deepEqual(
      schemas,
      [tenantSchemaBase(tenant(2))],
      'only the shared tenant has a schema in the shared database',
    );
    for (const i of [0, 1]) {
      const own = await databases.pool({
        target: 'default',
        database: databases.nameOf(tenant(i), generation),
      });
      const ownSchemas = await own.anyFirst(sql.type(z.object({ nspname: z.string() }))`
        select nspname from pg_namespace where nspname like 'tenant\\_%' order by 1`);
      assert.deepEqual(
        ownSchemas,
        [tenantSchemaBase(tenant(i))],
        `tenant ${i}'s database holds its schema only`,
      );
      const rows = await own.oneFirst(sql.type(z.object({ n: z.number() }))`
        select count(*)::int as n from ${sql.identifier([tenantSchemaBase(tenant(i)), 'images'])}
        where status <> 'deleted'`);
      assert.equal(
        rows,
        standingImages(events, tenant(i)).length,
        `tenant ${i}'s images are in its database`,
      );
      // Its checkpoints live beside its rows, never ahead of the shared ones.
      const own_ = await own.any(sql.type(
        z.object({ topic: z.string(), partition: z.number(), offset: z.number() }),
      )`
        select topic, partition, "offset" from deeplens.checkpoints`);
      const shared = await readCheckpoints(db.pool, 'metadata', generation);
      for (const c of own_) {
        assert.equal(c.topic, log.topics.image);
        assert.ok(c.offset <= (shared.get(`${c.topic}:${c.partition}`) ?? -1));
      }
    }

    // Reads: listings, single images and search hits of a dedicated tenant, from its database.
    const before = new Map<number, string[]>();
    for (const i of [0, 1, 2]) {
      before.set(i, await listAll(queries, tenant(i)));
      assert.deepEqual(before.get(i), standingImages(events, tenant(i)), `tenant ${i} lists its images`);
    }
    const [first] = before.get(0)!;
    const image = await queries.getImage(tenant(0), first!);
    assert.equal(image?.imageId, first);
    assert.ok(image!.embeddings.length > 0, 'the embeddings come along');
    assert.ok(
      (await queries.listImages(tenant(0), { status: 'embedded' })).items.length > 0,
      'a status filter',
    );
    assert.equal((await queries.getSearchHits(tenant(0), before.get(0)!)).size, before.get(0)!.length);

    // Another tenant cannot reach them: not by id, not in its listing, not as search hits.
    assert.equal(await queries.getImage(tenant(2), first!), undefined);
    assert.equal(await queries.getImage(tenant(1), first!), undefined);
    assert.equal((await queries.getSearchHits(tenant(2), before.get(0)!)).size, 0);
    assert.ok(!(await listAll(queries, tenant(1))).includes(first!));

    // A rebuild builds the dedicated databases of its own generation and drops the old ones.
    const rebuilt = await rebuildProjection(projectionDefinitions.metadata!, {
      ...runtime,
      dropAfterMs: 100,
    });
    assert.equal(rebuilt.previous, generation);
    await until("the old generation's databases are dropped", async () =>
      (await databases.list()).every((d) => d.database.endsWith(`_g${rebuilt.generation}`)),
    );
    assert.deepEqual(
      (await databases.list()).map((d) => d.database).sort(),
      [0, 1].map((i) => databases.nameOf(tenant(i), rebuilt.generation)).sort(),
    );
    for (const i of [0, 1, 2])
      assert.deepEqual(await listAll(queries, tenant(i)), before.get(i), `tenant ${i} after the rebuild`);

    // A lost dedicated database: noticed at start, the read model rebuilt in place.
    await running.stop();
    await databases.drop({ target: 'default', database: databases.nameOf(tenant(1), rebuilt.generation) });
    assert.deepEqual(await listAll(queries, tenant(1)), [], 'a lost database reads empty, not an error');
    running = service();
    await until(
      'the lost database is rebuilt',
      async () => JSON.stringify(await listAll(queries, tenant(1))) === JSON.stringify(before.get(1)),
    );
    await waitForCaughtUp(db.pool, log, ['metadata']);
    assert.deepEqual(await listAll(queries, tenant(0)), before.get(0));

    // Erasure drops the tenant's database.
    const version = Math.max(
      ...events.filter((e) => e.metadata.aggregateId === tenant(0)).map((e) => e.metadata.aggregateVersion),
    );
    await produceEvents(log, [
      {
        type: 'TenantDeleted',
        data: { tenantId: tenant(0), slug: `t0-${seed}` },
        metadata: {
          ...events[0]!.metadata,
          eventId: deterministicUuid(seed, 'erase'),
          aggregateId: tenant(0),
          aggregateVersion: version + 1,
          tenantId: tenant(0),
        },
      },
    ]);
    await waitForCaughtUp(db.pool, log, ['metadata']);
    const left = (await databases.list()).map((d) => d.database);
    assert.ok(
      !left.some((name) => name.includes(tenantSchemaBase(tenant(0)).slice('tenant_'.length))),
      'its database is gone',
    );
    assert.ok(left.length === 1, 'the other dedicated tenant keeps its database');
    assert.equal(await queries.getImage(tenant(0), first!), undefined);
    assert.deepEqual(await listAll(queries, tenant(0)), []);
  });
});
