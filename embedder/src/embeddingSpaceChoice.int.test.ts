import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import type { UploadedImage } from '@deeplens/commands/image/imageState';
import { createWriteModelDatabase } from '@deeplens/commands/testing/writeModelDatabase';
import { sql, type DatabasePool } from '@deeplens/platform/database';
import { createTestDatabase } from '@deeplens/platform/testing/testDatabase';
import { buildDefaultModel } from './buildDefaultModel.ts';
import {
  chooseEmbeddingManifest,
  embeddingSpaceProgress,
  EmbeddingSpaceNotChosenError,
} from './embeddingSpaceChoice.ts';

/** An image aggregate as the write model keeps it, embedded in the given model versions. */
async function storeImage(
  pool: DatabasePool,
  modelId: string,
  versions: string[],
  status: UploadedImage['status'] = 'active',
  tenantId: string = randomUUID(),
): Promise<void> {
  const imageId = randomUUID();
  const state: UploadedImage = {
    status,
    version: 1 + versions.length,
    tenantId,
    imageId,
    objectKey: `objects/${imageId}`,
    sha256: '0'.repeat(64),
    bytes: 1000,
    tags: [],
    attributes: {},
    embeddings: versions.map((modelVersion) => ({ modelId, modelVersion })),
    thumbnails: [],
  };
  await pool.query(sql.unsafe`
    insert into write.aggregates (aggregate_type, aggregate_id, tenant_id, version, state)
    values ('image', ${imageId}, ${tenantId}, ${state.version}, ${sql.jsonb(state as never)})`);
}

describe('chooseEmbeddingManifest (the space the embedder and the read API embed in)', () => {
  it('is the default (descriptor v2) on a new installation, and on one whose images are all in it', async (t) => {
    const { manifest, backbone } = await buildDefaultModel();
    const bare = await createTestDatabase(t);
    assert.equal((await chooseEmbeddingManifest(undefined, bare.pool)).modelVersion, manifest.modelVersion);

    const { pool } = await createWriteModelDatabase(t);
    assert.equal((await chooseEmbeddingManifest(undefined, pool)).modelVersion, manifest.modelVersion);
    await storeImage(pool, manifest.modelId, [manifest.modelVersion]);
    await storeImage(pool, manifest.modelId, [backbone.modelVersion, manifest.modelVersion]);
    await storeImage(pool, manifest.modelId, [backbone.modelVersion], 'deleted');
    await storeImage(pool, 'another_model', ['1']);
    await storeImage(pool, manifest.modelId, []);
    const chosen = await chooseEmbeddingManifest(undefined, pool);
    assert.equal(chosen.modelVersion, manifest.modelVersion);
    assert.equal(chosen.whitening?.dimension, 512);
  });

  it('refuses to move an installation with images embedded in v1 to v2 silently; an explicit manifest decides', async (t) => {
    const built = await buildDefaultModel();
    const { manifest, backbone } = built;
    const { pool } = await createWriteModelDatabase(t);
    await storeImage(pool, manifest.modelId, [manifest.modelVersion]);
    await storeImage(pool, manifest.modelId, [backbone.modelVersion]);

    await assert.rejects(chooseEmbeddingManifest(undefined, pool), (error: unknown) => {
      assert.ok(error instanceof EmbeddingSpaceNotChosenError);
      assert.equal(error.storedSpace, `${manifest.modelId}@${backbone.modelVersion}`);
      assert.equal(error.defaultSpace, `${manifest.modelId}@${manifest.modelVersion}`);
      assert.ok(error.message.includes(`EMBEDDER_MODEL_MANIFEST=${built.backboneManifestPath}`));
      assert.ok(error.message.includes(`EMBEDDER_MODEL_MANIFEST=${built.manifestPath}`));
      // The move without a gap in search is named with the manifest to give it.
      assert.ok(error.message.includes(`embeddingSpaceMoveMain.ts start ${built.manifestPath}`));
      return true;
    });

    const v1 = await chooseEmbeddingManifest(built.backboneManifestPath, pool);
    assert.equal(v1.modelVersion, backbone.modelVersion);
    assert.equal(v1.pooling, 'avg');
    assert.equal(v1.whitening, undefined);
    assert.equal(v1.dimension, 1792);
    const v2 = await chooseEmbeddingManifest(built.manifestPath, pool);
    assert.equal(v2.modelVersion, manifest.modelVersion);
    assert.equal(v2.whitening?.sha256, manifest.whitening?.sha256);
  });

  it('counts per tenant the live images embedded in a space: the progress of a move to it', async (t) => {
    const { manifest, backbone } = await buildDefaultModel();
    const { pool } = await createWriteModelDatabase(t);
    const [a, b] = [randomUUID(), randomUUID()];
    // By tenant here, whatever order the database's collation gives.
    const progressOf = async (space: typeof manifest) =>
      (await embeddingSpaceProgress(pool, space)).sort((x, y) =>
        x.tenantId === a ? -1 : y.tenantId === a ? 1 : 0,
      );
    const v1 = [backbone.modelVersion];
    const both = [backbone.modelVersion, manifest.modelVersion];
    await storeImage(pool, manifest.modelId, both, 'active', a);
    await storeImage(pool, manifest.modelId, v1, 'active', a);
    await storeImage(pool, manifest.modelId, v1, 'deleted', a);
    await storeImage(pool, manifest.modelId, [], 'active', b);
    await storeImage(pool, manifest.modelId, v1, 'active', b);
    assert.deepEqual(await progressOf(manifest), [
      { tenantId: a, active: 2, embedded: 1 },
      { tenantId: b, active: 2, embedded: 0 },
    ]);
    assert.deepEqual(await progressOf(backbone), [
      { tenantId: a, active: 2, embedded: 2 },
      { tenantId: b, active: 2, embedded: 1 },
    ]);
  });
});
