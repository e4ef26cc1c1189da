import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Hono } from 'hono';
import type { UploadedImage } from '@deeplens/commands/image/imageState';
import { createWriteModelDatabase } from '@deeplens/commands/testing/writeModelDatabase';
import { buildDefaultModel } from '@deeplens/embedder/buildDefaultModel';
import {
  embeddingSpaceMigrations,
  embeddingSpaceMoveProgress,
  finishEmbeddingSpaceMove,
  missingInTargetSpace,
  recordedEmbeddingSpaceMove,
  spaceName,
  startEmbeddingSpaceMove,
} from '@deeplens/embedder/embeddingSpaceMove';
import {
  decideRetirement,
  recordRetirement,
  retiredEmbeddingSpaces,
} from '@deeplens/embedder/embeddingSpaceRetirement';
import { loadEmbeddingModel, type EmbeddingModel } from '@deeplens/embedder/onnxEmbeddingModel';
import { sql, type DatabasePool } from '@deeplens/platform/database';
import { ConflictError } from '@deeplens/platform/errors';
import { createLogger } from '@deeplens/platform/logger';
import { runMigrations } from '@deeplens/platform/migrations';
import { problemErrorHandler } from '@deeplens/platform/http/problem';
import { createEmbeddingSpaceSelection } from './embeddingSpaceSelection.ts';
import type { ReadApiEnv } from './readApiEnv.ts';

type Space = { modelId: string; modelVersion: string };

/** A live image in the write model, embedded in `spaces`. */
async function storeImage(pool: DatabasePool, tenantId: string, spaces: Space[], status = 'active') {
  const imageId = randomUUID();
  const state: UploadedImage = {
    status: status as UploadedImage['status'],
    version: 1 + spaces.length,
    tenantId,
    imageId,
    objectKey: `objects/${imageId}`,
    sha256: '0'.repeat(64),
    bytes: 1000,
    tags: [],
    attributes: {},
    embeddings: spaces.map(({ modelId, modelVersion }) => ({ modelId, modelVersion })),
    thumbnails: [],
  };
  await pool.query(sql.unsafe`
    insert into write.aggregates (aggregate_type, aggregate_id, tenant_id, version, state)
    values ('image', ${imageId}, ${tenantId}, ${state.version}, ${sql.jsonb(state as never)})`);
  return imageId;
}

/** The vector read model's status row of a vector, as the vector projection writes it. */
async function indexVector(pool: DatabasePool, tenantId: string, imageId: string, space: Space) {
  await pool.query(sql.unsafe`
    insert into vector_status.image_vectors (tenant_id, image_id, model_id, model_version, dim, indexed_at)
    values (${tenantId}, ${imageId}, ${space.modelId}, ${space.modelVersion}, 8, now())`);
}

describe("embedding space move: the record, each tenant's progress, and the space each tenant searches", () => {
  it('records one move at a time; counts per tenant what the target space still misses in the vector read model', async (t) => {
    const { manifest: v2, backbone: v1, manifestPath } = await buildDefaultModel();
    const { pool, url } = await createWriteModelDatabase(t);
    assert.equal(await recordedEmbeddingSpaceMove(pool), undefined, 'no move before the migration');
    await runMigrations(url, embeddingSpaceMigrations.component, embeddingSpaceMigrations.directory);
    assert.equal(await recordedEmbeddingSpaceMove(pool), undefined);

    const [a, b] = [randomUUID(), randomUUID()];
    const a1 = await storeImage(pool, a, [v1]);
    const a2 = await storeImage(pool, a, [v1, v2]);
    await storeImage(pool, a, [v1], 'deleted');
    await storeImage(pool, a, []); // never embedded anywhere: holds nobody back
    await storeImage(pool, b, [v1]);
    const progress = async () =>
      new Map((await embeddingSpaceMoveProgress(pool, v2)).map((p) => [p.tenantId, p]));
    // No vector status table yet: nothing is indexed, nothing is missing.
    assert.deepEqual((await progress()).get(a), { tenantId: a, active: 3, embedded: 1, missing: 0 });
    await pool.query(sql.unsafe`create schema vector_status`);
    await pool.query(sql.unsafe`create table vector_status.image_vectors (
      tenant_id text not null, image_id text not null, model_id text not null, model_version text not null,
      dim int not null, indexed_at timestamptz not null, primary key (tenant_id, image_id, model_id, model_version))`);
    await indexVector(pool, a, a2, v2);
    await indexVector(pool, a, a1, v1); // another space's vector counts for nothing
    assert.deepEqual((await progress()).get(a), { tenantId: a, active: 3, embedded: 1, missing: 1 });
    assert.deepEqual((await progress()).get(b), { tenantId: b, active: 1, embedded: 0, missing: 0 });
    // The read API's check reads the vector read model alone: a1 has a v1 vector and no v2 one;
    // a2 is in v2; b's image and a's unembedded one have no vector at all yet.
    assert.equal(await missingInTargetSpace(pool, a, v2), 1);
    assert.equal(await missingInTargetSpace(pool, b, v2), 0, 'nothing searchable yet: nothing missing');
    await indexVector(pool, a, a1, v2);
    assert.equal(await missingInTargetSpace(pool, a, v2), 0);
    assert.equal((await progress()).get(a)?.missing, 0);
    assert.deepEqual(
      (await embeddingSpaceMoveProgress(pool, v2, b)).map((p) => p.tenantId),
      [b],
      'one tenant when asked for one',
    );

    const move = await startEmbeddingSpaceMove(pool, v2, manifestPath);
    assert.equal(move.targetSpace, spaceName(v2));
    assert.equal(move.manifestPath, manifestPath);
    assert.deepEqual(
      await startEmbeddingSpaceMove(pool, v2, manifestPath),
      move,
      'the same move again: unchanged',
    );
    await assert.rejects(startEmbeddingSpaceMove(pool, v1, manifestPath), ConflictError);
    assert.equal(await finishEmbeddingSpaceMove(pool), true);
    assert.equal(await finishEmbeddingSpaceMove(pool), false);
    assert.equal(await recordedEmbeddingSpaceMove(pool), undefined);
  });

  it('a tenant searches the target once complete (and settled), for good; the others stay; failures keep the serving space; a retired space answers 503', async (t) => {
    const { manifest: v2, backbone: v1, manifestPath } = await buildDefaultModel();
    const { pool, url } = await createWriteModelDatabase(t);
    await runMigrations(url, embeddingSpaceMigrations.component, embeddingSpaceMigrations.directory);
    await pool.query(sql.unsafe`create schema vector_status`);
    await pool.query(sql.unsafe`create table vector_status.image_vectors (
      tenant_id text not null, image_id text not null, model_id text not null, model_version text not null,
      dim int not null, indexed_at timestamptz not null, primary key (tenant_id, image_id, model_id, model_version))`);
    const [a, b] = [randomUUID(), randomUUID()];
    // Live images embedded and indexed in v1, as the embedder and the vector projection leave them.
    const stored = async (tenantId: string) => {
      const imageId = await storeImage(pool, tenantId, [v1]);
      await indexVector(pool, tenantId, imageId, v1);
      return imageId;
    };
    const a1 = await stored(a);
    const a2 = await stored(a);
    const b1 = await stored(b);

    let now = 0;
    const loaded: string[] = [];
    const models: EmbeddingModel[] = [];
    t.after(() => Promise.all(models.map((m) => m.close())));
    const selection = createEmbeddingSpaceSelection({
      pool,
      serving: {
        model: { modelId: v1.modelId, modelVersion: v1.modelVersion },
        queryModel: () => Promise.reject(new Error('not used here')),
      },
      loadQueryModel: async (manifest) => {
        loaded.push(spaceName(manifest));
        const model = await loadEmbeddingModel(manifest);
        models.push(model);
        return model;
      },
      log: createLogger({ test: 'embedding-space-selection' }, 'error'),
      clock: () => now,
      cacheMs: 0,
      settleMs: 1000,
    });
    const app = new Hono<ReadApiEnv>();
    app.onError(problemErrorHandler(createLogger({ test: 'embedding-space-selection' }, 'error')));
    app.use('/v1/*', async (c, next) => {
      const tenantId = c.req.header('x-tenant') ?? null;
      c.set('principal', {
        actor: 'user:test',
        userId: 'test',
        tenantId,
        role: tenantId ? 'tenant_user' : 'platform_admin',
        scopes: ['search'],
      });
      await next();
    });
    app.use('/v1/*', selection.middleware);
    app.get('/v1/space', (c) => c.text(spaceName(selection.current().model)));
    const spaceOf = async (tenantId?: string) =>
      (await app.request('/v1/space', { headers: tenantId ? { 'x-tenant': tenantId } : {} })).text();
    // A tenant checked before gets the last answer while the next check runs in the background.
    const checkedAgain = async (tenantId: string) => {
      const before = await spaceOf(tenantId);
      await selection.idle();
      return { before, after: await spaceOf(tenantId) };
    };
    t.after(() => selection.idle());

    assert.equal(await spaceOf(a), spaceName(v1), 'no move: the serving space');
    assert.equal(await selection.status(), null);

    // A move whose manifest cannot be read: logged, and every tenant keeps the serving space.
    await pool.query(sql.unsafe`insert into embedding_space.moves (target_space, manifest_path)
      values (${spaceName(v2)}, '/nonexistent/manifest.json')`);
    await indexVector(pool, b, b1, v2);
    now += 5000;
    assert.equal(await spaceOf(b), spaceName(v1), 'an unreadable target manifest keeps the serving space');
    await finishEmbeddingSpaceMove(pool);

    await startEmbeddingSpaceMove(pool, v2, manifestPath);
    // The target's query model loads in the background; no tenant switches before it has.
    assert.equal(await spaceOf(b), spaceName(v1));
    for (const deadline = Date.now() + 60_000; (await selection.status()) === null; await sleep(100))
      assert.ok(Date.now() < deadline, 'the target query model loads within 60 s');
    assert.deepEqual(loaded, [spaceName(v2)]);

    await indexVector(pool, a, a1, v2);
    assert.equal(await spaceOf(a), spaceName(v1), 'a: one image of two in the target');
    await indexVector(pool, a, a2, v2);
    assert.deepEqual(
      await checkedAgain(a),
      { before: spaceName(v1), after: spaceName(v1) },
      'a: complete, seen so by the background check, not yet settled',
    );
    now += 999;
    assert.equal(await spaceOf(a), spaceName(v1), 'a: complete for 999 ms');
    now += 1;
    assert.equal(await spaceOf(a), spaceName(v2), 'a: complete for the settle time: the target');
    assert.equal(await spaceOf(), spaceName(v1), 'a platform admin (no tenant): the serving space');
    assert.equal(spaceName(selection.current().model), spaceName(v1), 'outside a request: the serving space');

    // b was complete meanwhile too: seen first now, switched after the settle time.
    assert.equal(await spaceOf(b), spaceName(v1));
    now += 1000;
    assert.equal(await spaceOf(b), spaceName(v2));

    // A new upload of a, not yet in the target: a stays on the target (it never goes back).
    await stored(a);
    now += 5000;
    assert.equal(await spaceOf(a), spaceName(v2));
    assert.deepEqual(await selection.status(), {
      serving: spaceName(v1),
      target: spaceName(v2),
      tenantsSwitched: 2,
    });

    // A tenant incomplete when the move is finished stays on the serving space; switched ones stay.
    const c = randomUUID();
    await stored(c);
    assert.equal(await spaceOf(c), spaceName(v1));
    await finishEmbeddingSpaceMove(pool);
    now += 5000;
    assert.equal(await spaceOf(a), spaceName(v2));
    assert.equal(await spaceOf(c), spaceName(v1));
    assert.equal((await selection.status())?.tenantsSwitched, 2, 'the last move is still reported');

    // Retiring v1: refused while c has an image indexed in v1 only, then recorded (the event in
    // the outbox, the write side's row); c, still on v1 in this process, is refused loudly.
    const retirement = async () =>
      decideRetirement({
        space: v1,
        replacement: v2,
        move: await recordedEmbeddingSpaceMove(pool),
        progress: await embeddingSpaceMoveProgress(pool, v2),
        retired: await retiredEmbeddingSpaces(pool),
        now: Date.now(),
      });
    await assert.rejects(retirement(), /2 tenant\(s\) still have 2 image\(s\) with no vector in/);
    // The move's embedder catches up: every image indexed in v1 is indexed in v2 too.
    await pool.query(sql.unsafe`
      insert into vector_status.image_vectors (tenant_id, image_id, model_id, model_version, dim, indexed_at)
      select tenant_id, image_id, ${v2.modelId}, ${v2.modelVersion}, dim, now() from vector_status.image_vectors
      on conflict do nothing`);
    const event = await retirement();
    assert.ok(event);
    assert.equal(await recordRetirement(pool, event), true);
    assert.equal(await recordRetirement(pool, event), false, 'recorded once');
    assert.equal(await retirement(), undefined, 'already retired: nothing to decide');
    assert.deepEqual(
      await pool.anyFirst(
        sql.unsafe`select event_type from write.outbox where aggregate_id = ${event.metadata.aggregateId}`,
      ),
      ['EmbeddingSpaceRetired'],
    );
    await assert.rejects(startEmbeddingSpaceMove(pool, v1, manifestPath), /is retired/, 'no move back to it');
    now += 5000;
    assert.equal(await spaceOf(a), spaceName(v2), 'a switched tenant searches v2 as before');
    const refused = await app.request('/v1/space', { headers: { 'x-tenant': c } });
    assert.equal(refused.status, 503);
    assert.match(refused.headers.get('content-type') ?? '', /problem\+json/);
    const problem = (await refused.json()) as { detail: string; space: string; replacedBy: string };
    assert.match(
      problem.detail,
      new RegExp(`${spaceName(v1)} is retired \\(replaced by ${spaceName(v2)}\\)`),
    );
  });
});
