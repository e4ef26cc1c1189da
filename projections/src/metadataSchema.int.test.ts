import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { sql } from '@deeplens/platform/database';
import { createTestDatabase } from '@deeplens/platform/testing/testDatabase';
import { imageColumns } from './metadataProjection.ts';
import { ensurePlatformSchema, ensureTenantSchema, tableExists } from './metadataSchema.ts';

describe('read-model schema creation', () => {
  it('lets concurrent batches that each find a schema missing create it in turn, none failing', async (t) => {
    const db = await createTestDatabase(t);
    // As the first batches of a rebuild's partitions: each looks the schema up, finds it missing
    // and waits for the one creating it. Reused connections keep their catalog caches, which is
    // what the check after the lock must not trust.
    for (let round = 1; round <= 8; round++) {
      const platform = `platform__g${round}`;
      const tenant = `tenant_${'0'.repeat(31)}1__g${round}`;
      const results = await Promise.allSettled(
        [0, 1, 2, 3].map((i) =>
          db.pool.transaction(async (tx) => {
            await tx.transaction(async (savepoint) => {
              await ensurePlatformSchema(savepoint, platform);
              await ensureTenantSchema(savepoint, tenant);
              await savepoint.query(sql.unsafe`select pg_sleep(${0.01 * i})`);
            });
          }),
        ),
      );
      const failures = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
      assert.deepEqual(failures, [], `round ${round}: no batch failed creating the schemas`);
      await db.pool.transaction(async (tx) => {
        assert.ok(await tableExists(tx, platform, 'api_keys'));
        assert.ok(await tableExists(tx, tenant, 'image_embeddings'));
      });
    }
  });

  it('creates the images table with exactly the columns of the row (imageRowSchema, from the image field list)', async (t) => {
    const db = await createTestDatabase(t);
    const tenant = `tenant_${'0'.repeat(31)}4`;
    await db.pool.transaction((tx) => ensureTenantSchema(tx, tenant));
    const columns = await db.pool.anyFirst(sql.type(z.object({ column_name: z.string() }))`
      select column_name from information_schema.columns
      where table_schema = ${tenant} and table_name = 'images'`);
    assert.deepEqual([...columns].sort(), [...imageColumns].sort());
  });

  it("adds the images' perceptual_hash column to a tenant schema created before it, once", async (t) => {
    const db = await createTestDatabase(t);
    const tenant = `tenant_${'0'.repeat(31)}2`;
    const hasColumn = () =>
      db.pool.oneFirst(sql.type(z.object({ exists: z.boolean() }))`
        select exists (select from information_schema.columns
          where table_schema = ${tenant} and table_name = 'images' and column_name = 'perceptual_hash') as exists`);
    await db.pool.transaction((tx) => ensureTenantSchema(tx, tenant));
    assert.ok(await hasColumn(), 'a new schema has the column');
    // As a schema created by the previous version of the projection.
    await db.pool.query(
      sql.unsafe`alter table ${sql.identifier([tenant, 'images'])} drop column perceptual_hash`,
    );
    assert.equal(await hasColumn(), false);
    const results = await Promise.allSettled(
      [0, 1, 2].map(() => db.pool.transaction((tx) => ensureTenantSchema(tx, tenant))),
    );
    assert.deepEqual(
      results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : [])),
      [],
      'concurrent batches migrate it in turn',
    );
    assert.ok(await hasColumn(), 'the old schema has the column now');
  });

  it('adds the image_features table to a tenant schema created before it, once', async (t) => {
    const db = await createTestDatabase(t);
    const tenant = `tenant_${'0'.repeat(31)}3`;
    const hasTable = () => db.pool.transaction((tx) => tableExists(tx, tenant, 'image_features'));
    await db.pool.transaction((tx) => ensureTenantSchema(tx, tenant));
    assert.ok(await hasTable(), 'a new schema has the table');
    // As a schema created by the previous version of the projection.
    await db.pool.query(sql.unsafe`drop table ${sql.identifier([tenant, 'image_features'])}`);
    assert.equal(await hasTable(), false);
    const results = await Promise.allSettled(
      [0, 1, 2].map(() => db.pool.transaction((tx) => ensureTenantSchema(tx, tenant))),
    );
    assert.deepEqual(
      results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : [])),
      [],
      'concurrent batches migrate it in turn',
    );
    assert.ok(await hasTable(), 'the old schema has the table now');
  });
});
