import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { activeGeneration } from './generations.ts';
import { readCheckpoints } from './postgresProjection.ts';
import { projectionDefinitions } from './projectionRuntime.ts';
import { projectionGroupId, startProjectionService } from './projectionService.ts';
import { checkpointKey } from './projection.ts';
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
  type ProjectionTestDatabase,
  type TestLog,
} from './testing/projectionTestKit.ts';
import { syntheticLog } from './testing/syntheticLog.ts';

const repoRoot = join(import.meta.dirname, '..', '..');
const names = ['metadata', 'usage', 'vectors'];

/** Runs the projector process (`main.ts`) on the test's database, folder and topics. */
function runProjector(
  t: TestContext,
  db: ProjectionTestDatabase,
  log: TestLog,
  env: Record<string, string>,
): { exited: Promise<number | null>; kill: (signal: NodeJS.Signals) => void } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'projections/src/main.ts'], {
    cwd: repoRoot,
    env: {
      ...process.env,
      DATABASE_URL: db.url,
      VECTOR_STORE: db.config.VECTOR_STORE,
      VECTOR_INDEX_DIR: db.vectorDir,
      ...(db.config.QDRANT_URL ? { QDRANT_URL: db.config.QDRANT_URL } : {}),
      DEEPLENS_VECTOR_NAMESPACE: db.vectorNamespace,
      DEEPLENS_PROJECTION_TOPICS: log.list.join(','),
      DEEPLENS_PROJECTION_GROUP_PREFIX: log.groupPrefix,
      DEEPLENS_PROJECTIONS: names.join(','),
      LOG_LEVEL: 'error',
      // Small batches: many of them, so each crash lands in the middle of the replay.
      DEEPLENS_PROJECTION_MAX_BATCH_BYTES: '32768',
      DEEPLENS_PROJECTION_SESSION_TIMEOUT_MS: '6000',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('the projector process did not exit within 180 s'));
      // Generous: on a loaded CI machine the child's start-up alone (tsx, migrations, four
      // projections joining their groups) can take most of a minute before the fault is reached.
    }, 180_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(signal === 'SIGKILL' ? -9 : code);
    });
  });
  t.after(() => void child.kill('SIGKILL'));
  return { exited, kill: (signal) => void child.kill(signal) };
}

/** The read models and vectors of `db` equal a clean build of the same log (another database and folder). */
async function assertEqualsCleanBuild(
  t: TestContext,
  db: ProjectionTestDatabase,
  log: TestLog,
  store: 'embedded' | 'qdrant',
  names: readonly string[],
): Promise<void> {
  // The reference: a clean build of the same log, in another database and folder.
  const reference = await createProjectionDatabase(t, { vectorStore: store });
  const services = names.map((name) =>
    startProjectionService(projectionDefinitions[name]!, {
      kafka: log.kafka,
      serde: log.serde,
      deps: reference.deps,
      databaseUrl: reference.url,
      topics: log.list,
      groupPrefix: `${log.groupPrefix}-reference`,
      log: reference.log,
      pollIntervalMs: 200,
    }),
  );
  await waitForCaughtUp(reference.pool, log, names, 90_000);
  await Promise.all(services.map((s) => s.stop()));

  const crashed = await dumpReadModels(db.pool);
  const clean = await dumpReadModels(reference.pool);
  assert.deepEqual(Object.keys(crashed), Object.keys(clean));
  for (const table of Object.keys(clean))
    assert.deepEqual(crashed[table], clean[table], `${table}, row by row`);
  assert.ok((clean['vector_status.image_vectors']?.length ?? 0) > 1000);

  const crashedIndex = await openActiveVectorIndex(db);
  const cleanIndex = await openActiveVectorIndex(reference);
  t.after(() => Promise.all([crashedIndex.close(), cleanIndex.close()]));
  const crashedVectors = await dumpVectors(crashedIndex);
  const cleanVectors = await dumpVectors(cleanIndex);
  assert.deepEqual(Object.keys(crashedVectors), Object.keys(cleanVectors));
  for (const collection of Object.keys(cleanVectors)) {
    assert.deepEqual(crashedVectors[collection], cleanVectors[collection], `${collection}, vector by vector`);
  }
}

describe('projector crash safety', () => {
  for (const { store, skip } of testVectorStores)
    it(
      `after kill -9 in the middle of batches, every read model equals a clean rebuild (vector store: ${store})`,
      { skip },
      async (t) => {
        const db = await createProjectionDatabase(t, { vectorStore: store });
        const log = await createTestLog(t);
        const events = syntheticLog({
          seed: 'crash',
          tenants: 4,
          imagesPerTenant: 500,
          dim: 16,
          eraseLastTenant: true,
        });
        await produceEvents(log, events);

        // Each run SIGKILLs itself at a different point: inside the usage transaction; inside the
        // metadata transaction before its commit; between the vector index's commit and the vector
        // status transaction; after the vector index applied a batch but before it committed.
        // Fastest projection first: a fault is only reached while its projection still has
        // records to apply, and usage catches up long before the others (on Qdrant especially).
        for (const fault of [
          'usage.beforeCommit:2',
          'metadata.beforeCommit:3',
          'vectors.afterIndexCommit:2',
          'vectors.beforeIndexCommit:2',
        ]) {
          const run = runProjector(t, db, log, { DEEPLENS_FAULT_PROJECTOR_KILL: fault });
          assert.equal(await run.exited, -9, `${fault}: the projector killed itself`);
        }
        const last = runProjector(t, db, log, {});
        await waitForCaughtUp(db.pool, log, names, 90_000);
        last.kill('SIGTERM');
        assert.equal(await last.exited, 0);

        await assertEqualsCleanBuild(t, db, log, store, names);
        assert.deepEqual(await failuresOf(db.pool), []);
      },
    );

  it("after kill -9 while Kafka's committed offsets run ahead of the checkpoints (the pipelined runner), the vectors equal a clean rebuild", async (t) => {
    const store = 'embedded';
    const db = await createProjectionDatabase(t, { vectorStore: store });
    const log = await createTestLog(t);
    await produceEvents(
      log,
      syntheticLog({ seed: 'pipelined-crash', tenants: 4, imagesPerTenant: 500, dim: 16 }),
    );
    const admin = log.kafka.admin();
    await admin.connect();
    t.after(() => admin.disconnect());
    /** Partitions whose group offset in Kafka is past the vector projection's checkpoint + 1. */
    const ahead = async (): Promise<string[]> => {
      const generation = await activeGeneration(db.pool, 'vectors').catch(() => undefined);
      if (generation === undefined) return [];
      const groupId = projectionGroupId(log.groupPrefix, 'vectors', generation);
      const checkpoints = await readCheckpoints(db.pool, 'vectors', generation);
      const out: string[] = [];
      for (const { topic, partitions } of await admin.fetchOffsets({ groupId, topics: [...log.list] })) {
        for (const { partition, offset } of partitions) {
          const key = checkpointKey(topic, partition);
          if (Number(offset) > (checkpoints.get(key) ?? -1) + 1) out.push(key);
        }
      }
      return out;
    };

    // The vector projection alone, killed from outside as soon as Kafka is seen ahead of it. The
    // window can close between that look and the kill (the checkpoint commits meanwhile): then
    // the projector is started again from where it stopped and killed again, until a kill lands
    // inside the window.
    let killedInWindow = false;
    for (let attempt = 1; attempt <= 10 && !killedInWindow; attempt++) {
      const run = runProjector(t, db, log, { DEEPLENS_PROJECTIONS: 'vectors' });
      let exited: number | null | undefined;
      void run.exited.then((code) => (exited = code));
      // A projector that has caught up opens no window again: then the attempts end.
      const deadline = Date.now() + 30_000;
      while ((await ahead()).length === 0 && Date.now() < deadline) {
        assert.equal(
          exited,
          undefined,
          'the projector exited before Kafka was seen ahead of the checkpoints',
        );
        await sleep(5);
      }
      run.kill('SIGKILL');
      assert.equal(await run.exited, -9);
      // After the kill nothing moves: is the window this test is about still open?
      killedInWindow = (await ahead()).length > 0;
    }
    assert.ok(killedInWindow, "Kafka's committed offsets were ahead of the checkpoints at a kill");

    const last = runProjector(t, db, log, { DEEPLENS_PROJECTIONS: 'vectors' });
    await waitForCaughtUp(db.pool, log, ['vectors'], 90_000);
    last.kill('SIGTERM');
    assert.equal(await last.exited, 0);
    await assertEqualsCleanBuild(t, db, log, store, ['vectors']);
    assert.deepEqual(await failuresOf(db.pool), []);
  });
});
