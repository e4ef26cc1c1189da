/**
 * Projector instances added and removed under continuous ingest (what `npm run up -- --replicas N`
 * runs side by side): a second instance stands by on each projection's generation lock, takes
 * over when the first is removed, and a re-added first instance takes over again when the
 * second goes. Nothing applied twice, nothing skipped: the read models and the vector index
 * equal a clean build of the final log.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { deterministicUuid } from '@deeplens/platform/ids';
import { createMetadataQueries } from '@deeplens/projections/metadataQueries';
import { projectionDefinitions } from '@deeplens/projections/projectionRuntime';
import { startProjectionService, type ProjectionService } from '@deeplens/projections/projectionService';
import {
  createProjectionDatabase,
  createTestLog,
  dumpReadModels,
  dumpVectors,
  failuresOf,
  openActiveVectorIndex,
  produceEvents,
  waitForCaughtUp,
} from '@deeplens/projections/testing/projectionTestKit';
import { moreImages, syntheticLog } from '@deeplens/projections/testing/syntheticLog';

const names = ['metadata', 'usage', 'vectors'];

describe('projector instances added and removed under load', () => {
  it('hand the projections over with no event applied twice or skipped', async (t) => {
    const db = await createProjectionDatabase(t);
    const log = await createTestLog(t);
    const dim = 8;
    await produceEvents(log, syntheticLog({ seed: 'ho', tenants: 2, imagesPerTenant: 100, dim }));
    const runtime = {
      kafka: log.kafka,
      serde: log.serde,
      deps: db.deps,
      databaseUrl: db.url,
      topics: log.list,
      groupPrefix: log.groupPrefix,
      log: db.log,
      pollIntervalMs: 200,
      sessionTimeoutMs: 6000,
    };
    const instance = () => names.map((name) => startProjectionService(projectionDefinitions[name]!, runtime));
    const running = new Set<ProjectionService[]>();
    t.after(() => Promise.all([...running].flat().map((s) => s.stop())));
    const add = () => {
      const services = instance();
      running.add(services);
      return services;
    };
    const remove = async (services: ProjectionService[]) => {
      await Promise.all(services.map((s) => s.stop()));
      running.delete(services);
    };

    const tenantId = deterministicUuid('ho', 'tenant', '0');
    let ingesting = true;
    let sent = 0;
    const ingest = (async () => {
      while (ingesting) {
        await produceEvents(log, moreImages('ho', tenantId, sent, 10, dim));
        sent += 10;
        await sleep(100);
      }
    })();
    const until = async (n: number) => {
      while (sent < n) await sleep(50);
    };
    /** Whether every projection of an instance is running (holds its generation), within 60 s. */
    const takesOver = async (services: ProjectionService[]) => {
      for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(100))
        if (services.every((s) => s.generation !== undefined)) return true;
      return false;
    };
    const standsBy = (services: ProjectionService[]) => services.every((s) => s.generation === undefined);

    const first = add();
    assert.ok(await takesOver(first), 'the first instance runs every projection');
    await until(50);
    const second = add(); // stands by: each projection's generation lock is held by the first
    await until(100);
    assert.ok(standsBy(second), 'the added instance stands by while the first runs');
    await remove(first); // the second takes over mid-ingest
    assert.ok(await takesOver(second), 'the second instance took over');
    await until(200);
    const third = add(); // stands by again
    await until(250);
    assert.ok(standsBy(third), 'the re-added instance stands by');
    await remove(second); // and the third takes over
    assert.ok(await takesOver(third), 'the third instance took over');
    await until(350);
    ingesting = false;
    await ingest;
    await waitForCaughtUp(db.pool, log, names, 180_000);
    await remove(third);

    assert.deepEqual(await failuresOf(db.pool), [], 'no record was skipped');
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
    await waitForCaughtUp(reference.pool, log, names, 180_000);
    await Promise.all(clean.map((s) => s.stop()));
    assert.deepEqual(await dumpReadModels(db.pool), await dumpReadModels(reference.pool));
    const handed = await openActiveVectorIndex(db);
    const fresh = await openActiveVectorIndex(reference);
    t.after(() => Promise.all([handed.close(), fresh.close()]));
    assert.deepEqual(await dumpVectors(handed), await dumpVectors(fresh));
    const usage = await createMetadataQueries(db.pool).getUsage(tenantId);
    assert.ok((usage?.images ?? 0) >= sent, `every image counted once (${usage?.images}, ${sent} added)`);
    t.diagnostic(`${sent} images ingested across two hand-overs`);
  });
});
