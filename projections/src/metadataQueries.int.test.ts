import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from '@deeplens/platform/database';
import { deterministicUuid } from '@deeplens/platform/ids';
import { createMetadataQueries } from './metadataQueries.ts';
import { upsertImageRows, type ImageRow } from './metadataProjection.ts';
import { ensurePlatformSchema, ensureTenantSchema, tenantSchemaBase } from './metadataSchema.ts';
import { createProjectionDatabase } from './testing/projectionTestKit.ts';

const tenantId = deterministicUuid('search-hits-location', 'tenant');
const imageId = deterministicUuid('search-hits-location', 'image');

function imageRow(filename: string): ImageRow {
  return {
    image_id: imageId,
    status: 'embedded',
    object_key: `${tenantId}/${imageId}`,
    sha256: '0'.repeat(64),
    mime: 'image/jpeg',
    bytes: 1000,
    width: 64,
    height: 48,
    filename,
    tags: [filename],
    attributes: {},
    source: 'http',
    failure_reason: null,
    failure_retriable: null,
    failed_at: null,
    thumbnail_key: null,
    thumbnail_width: null,
    thumbnail_height: null,
    thumbnail_mime: null,
    perceptual_hash: null,
    version: 1,
    uploaded_at: 1_700_000_000_000,
    updated_at: 1_700_000_000_000,
    deleted_at: null,
  };
}

describe('search hits are read where the tenant lives', () => {
  it('reads a tenant that moved to a dedicated database (or back) from where it is now, at once', async (t) => {
    const db = await createProjectionDatabase(t);
    const databases = db.deps.tenantDatabases!;
    const schema = tenantSchemaBase(tenantId);
    await db.pool.transaction(async (tx) => {
      await ensurePlatformSchema(tx, 'platform');
      await ensureTenantSchema(tx, schema);
      await upsertImageRows(tx, schema, [imageRow('shared.jpg')]);
    });
    const queries = createMetadataQueries(db.pool, { tenantDatabases: databases });
    t.after(() => queries.close());
    const filenameRead = async () =>
      (await queries.getSearchHits(tenantId, [imageId], [imageId])).get(imageId)?.filename;
    assert.equal(await filenameRead(), 'shared.jpg', 'a shared tenant, read from the shared database');

    // The tenant's rows in a database of its own, with a different filename to tell them apart.
    const at = { target: 'default', database: databases.nameOf(tenantId, 1) };
    await databases.ensure(at);
    await databases.transaction(at, async (dtx) => {
      await ensureTenantSchema(dtx, schema);
      await upsertImageRows(dtx, schema, [imageRow('dedicated.jpg')]);
    });
    assert.equal(await filenameRead(), 'shared.jpg', 'not moved until the registry says so');

    // The move commits. The shared schema is left in place here (the projector drops it in the
    // same transaction): a reader that trusted it, or a remembered location, would answer
    // `shared.jpg`.
    await db.pool.query(sql.typeAlias('void')`
      insert into platform.tenant_databases (tenant_id, target, database) values (${tenantId}, ${at.target}, ${at.database})`);
    assert.equal(await filenameRead(), 'dedicated.jpg', 'the first read after the move');
    assert.equal(await filenameRead(), 'dedicated.jpg', 'and the next');

    // And back (the registry row gone): the shared rows again, at once.
    await db.pool.query(sql.typeAlias('void')`
      delete from platform.tenant_databases where tenant_id = ${tenantId}`);
    assert.equal(await filenameRead(), 'shared.jpg', 'back in the shared database');

    // Dedicated with the shared schema dropped, as the projector leaves it.
    await db.pool.query(sql.typeAlias('void')`
      insert into platform.tenant_databases (tenant_id, target, database) values (${tenantId}, ${at.target}, ${at.database})`);
    await db.pool.query(sql.typeAlias('void')`drop schema ${sql.identifier([schema])} cascade`);
    assert.equal(await filenameRead(), 'dedicated.jpg', 'a dedicated tenant without a shared schema');

    // Another tenant sees none of it.
    const other = deterministicUuid('search-hits-location', 'other tenant');
    assert.equal((await queries.getSearchHits(other, [imageId])).size, 0);
  });
});
