import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { sql, type DatabasePool } from '@deeplens/platform/database';
import { deterministicUuid } from '@deeplens/platform/ids';
import { activeGeneration } from './generations.ts';
import { createMetadataQueries } from './metadataQueries.ts';
import { projectionsNotCaughtUp } from './projectionReadiness.ts';
import { projectionDefinitions } from './projectionRuntime.ts';
import { startProjectionService } from './projectionService.ts';
import { rebuildProjection, RebuildIncompleteError } from './rebuildProjection.ts';
import {
  createProjectionDatabase,
  createTestLog,
  dumpReadModels,
  failuresOf,
  produceEvents,
  waitForCaughtUp,
} from './testing/projectionTestKit.ts';
import { syntheticLog } from './testing/syntheticLog.ts';

/** Polls until the read models dump equal to `whole` (a truncated one in between may not answer). */
async function untilEqual(pool: DatabasePool, whole: Record<string, unknown[]>): Promise<void> {
  const expected = JSON.stringify(whole);
  for (let deadline = Date.now() + 60_000; ;) {
    const dump = await dumpReadModels(pool).catch(() => undefined);
    if (JSON.stringify(dump) === expected) return;
    assert.ok(Date.now() < deadline, 'the read models come back as they were');
    await sleep(200);
  }
}

describe('read models recover from the log, loudly or not at all', () => {
  it('a rebuild that cannot decode a record fails naming it and switches nothing; --skip lets it through', async (t) => {
    const db = await createProjectionDatabase(t);
    const log = await createTestLog(t);
    await produceEvents(log, syntheticLog({ seed: 'ri', tenants: 1, imagesPerTenant: 20, dim: 4 }));
    const runtime = {
      kafka: log.kafka,
      serde: log.serde,
      deps: db.deps,
      databaseUrl: db.url,
      topics: log.list,
      groupPrefix: log.groupPrefix,
      log: db.log,
      dropAfterMs: 100,
    };
    const first = await rebuildProjection(projectionDefinitions.usage!, runtime);
    // A record of ours the registry cannot resolve (a schema id it does not hold).
    const unknownSchema = Buffer.concat([Buffer.from([0, 0x7f, 0xff, 0xff, 0xf0]), Buffer.from('junk')]);
    const [sent] = await log.producer.send({
      topic: log.topics.image,
      acks: -1,
      messages: [{ partition: 1, key: 'x', value: unknownSchema }],
    });
    const address = `${log.topics.image}:1:${sent!.baseOffset}`;

    await assert.rejects(rebuildProjection(projectionDefinitions.usage!, runtime), (error: Error) => {
      assert.ok(error instanceof RebuildIncompleteError);
      assert.ok(error.message.includes(address), `names ${address}: ${error.message}`);
      return true;
    });
    assert.equal(await activeGeneration(db.pool, 'usage'), first.generation, 'the previous generation stays');
    assert.deepEqual(await failuresOf(db.pool), []);

    const skipped = await rebuildProjection(projectionDefinitions.usage!, { ...runtime, skip: [address] });
    assert.equal(await activeGeneration(db.pool, 'usage'), skipped.generation);
    const failures = await failuresOf(db.pool);
    assert.deepEqual(
      failures.map((f) => [f.offset, f.error]),
      [[Number(sent!.baseOffset), 'skipped by the operator (--skip)']],
      'the skip is recorded',
    );
  });

  it('a dropped read model is rebuilt from offset 0 at start, not served empty', async (t) => {
    const db = await createProjectionDatabase(t);
    const log = await createTestLog(t);
    await produceEvents(log, syntheticLog({ seed: 'rh', tenants: 2, imagesPerTenant: 40, dim: 4 }));
    const names = ['metadata', 'usage'];
    const start = () =>
      names.map((name) =>
        startProjectionService(projectionDefinitions[name]!, {
          kafka: log.kafka,
          serde: log.serde,
          deps: db.deps,
          databaseUrl: db.url,
          topics: log.list,
          groupPrefix: log.groupPrefix,
          log: db.log,
          pollIntervalMs: 100,
        }),
      );
    const before = start();
    await waitForCaughtUp(db.pool, log, names);
    const whole = await dumpReadModels(db.pool);
    await Promise.all(before.map((s) => s.stop()));

    // Lost: the platform schema, one tenant's schema, the usage schema. Checkpoints still say "done".
    const tenant = deterministicUuid('rh', 'tenant', '1').replaceAll('-', '');
    await db.pool.query(sql.unsafe`drop schema platform cascade`);
    await db.pool.query(sql.unsafe`drop schema ${sql.identifier([`tenant_${tenant}`])} cascade`);
    await db.pool.query(sql.unsafe`drop schema usage cascade`);

    const after = start();
    t.after(() => Promise.all(after.map((s) => s.stop())));
    // The heal runs as the services start: wait for the read models to be what they were.
    await untilEqual(db.pool, whole);
    await waitForCaughtUp(db.pool, log, names);
    for (let deadline = Date.now() + 30_000; (await projectionsNotCaughtUp(db.pool)).length > 0;) {
      assert.ok(Date.now() < deadline, 'readiness reaches caught-up');
      await sleep(100);
    }
    assert.deepEqual(await dumpReadModels(db.pool), whole, 'the read models equal what they were');
    const queries = createMetadataQueries(db.pool);
    assert.ok((await queries.getUsage(deterministicUuid('rh', 'tenant', '0')))!.images > 0);
  });

  it('a partial half-loss: only one tenant schema gone is noticed too', async (t) => {
    const db = await createProjectionDatabase(t);
    const log = await createTestLog(t);
    await produceEvents(log, syntheticLog({ seed: 'rp', tenants: 2, imagesPerTenant: 10, dim: 4 }));
    const service = () =>
      startProjectionService(projectionDefinitions.metadata!, {
        kafka: log.kafka,
        serde: log.serde,
        deps: db.deps,
        databaseUrl: db.url,
        topics: log.list,
        groupPrefix: log.groupPrefix,
        log: db.log,
        pollIntervalMs: 100,
      });
    const first = service();
    await waitForCaughtUp(db.pool, log, ['metadata']);
    const whole = await dumpReadModels(db.pool);
    await first.stop();
    const tenant = deterministicUuid('rp', 'tenant', '0').replaceAll('-', '');
    await db.pool.query(sql.unsafe`drop schema ${sql.identifier([`tenant_${tenant}`])} cascade`);
    const second = service();
    t.after(() => second.stop());
    await untilEqual(db.pool, whole);
  });
});
