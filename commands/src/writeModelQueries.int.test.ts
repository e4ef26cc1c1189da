import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { hashPassword } from '@deeplens/platform/auth/passwords';
import { createTestDatabase } from '@deeplens/platform/testing/testDatabase';
import { sql } from '@deeplens/platform/database';
import { createCommandHandler, type CommandOrigin } from './commandHandler.ts';
import type { UploadImage } from './image/imageCommands.ts';
import { limitsOf } from './tenant/plans.ts';
import { createWriteModelDatabase } from './testing/writeModelDatabase.ts';
import {
  activeImageObjectCount,
  activeImageObjectsAfter,
  activeImagesEmbeddedIn,
  bytesInUse,
  imageObjectKeys,
  isImageActive,
  liveTenantAggregates,
  otherEmbeddedModelVersion,
  tenantStorageRecord,
  tenantsWithUnfinishedStorageMove,
  userIdByEmail,
  writeModelExists,
} from './writeModelQueries.ts';
import { imageAggregate, tenantAggregate, userAggregate } from './writeModelRules.ts';

const admin: CommandOrigin = { actor: 'user:admin' };
const sha = (n: number) => String(n).padStart(64, '0');

describe('write model queries', () => {
  it('answer from the state the command handler wrote', async (t) => {
    const { pool } = await createWriteModelDatabase(t);
    const handler = createCommandHandler({ pool });
    // Tenant ids in the order the per-tenant answers are sorted.
    const [alpha, beta] = [randomUUID(), randomUUID()].sort() as [string, string];
    for (const [tenantId, slug] of [
      [alpha, 'alpha'],
      [beta, 'beta'],
    ] as const)
      await handler.handle(
        tenantAggregate,
        { type: 'ProvisionTenant', data: { tenantId, slug: `${slug}-${tenantId}`, name: slug, plan: 'pro' } },
        admin,
      );
    const alice = randomUUID();
    await handler.handle(
      userAggregate,
      {
        type: 'RegisterUser',
        data: {
          userId: alice,
          tenantId: alpha,
          email: 'Alice@Example.com',
          passwordHash: await hashPassword('correct horse battery staple'),
          role: 'tenant_admin',
        },
      },
      admin,
    );
    const upload = (tenantId: string, n: number): Pick<UploadImage, 'type' | 'data'> => ({
      type: 'UploadImage',
      data: {
        tenantId,
        imageId: randomUUID(),
        objectKey: `sha256/${sha(n)}`,
        sha256: sha(n),
        mime: 'image/jpeg',
        bytes: 1000 + n,
        width: 10,
        height: 10,
        filename: `${n}.jpg`,
        tags: [],
        attributes: {},
        source: 'http',
        tenant: { status: 'active', limits: limitsOf('pro') },
      },
    });
    const commands = [upload(alpha, 1), upload(alpha, 2), upload(alpha, 3), upload(beta, 4)];
    for (const command of commands) await handler.handle(imageAggregate, command, admin);
    const [first, second, third] = commands.map((c) => c.data.imageId) as [string, string, string];
    await handler.handle(
      imageAggregate,
      {
        type: 'RecordImageEmbedding',
        data: {
          tenantId: alpha,
          imageId: first,
          modelId: 'm',
          modelVersion: '1',
          vector: Float32Array.from([0.1, 0.2, 0.3]),
          thumbnail: { objectKey: `thumbnails/${first}.webp`, width: 8, height: 8, mime: 'image/webp' },
        },
      },
      { actor: 'system:embedder' },
    );
    await handler.handle(
      imageAggregate,
      { type: 'DeleteImage', data: { tenantId: alpha, imageId: third } },
      admin,
    );

    assert.equal(await writeModelExists(pool), true);
    assert.equal(await userIdByEmail(pool, 'alice@example.com'), alice);
    assert.equal(await userIdByEmail(pool, 'bob@example.com'), null);

    assert.equal(await isImageActive(pool, first), true);
    assert.equal(await isImageActive(pool, third), false, 'deleted');
    assert.equal(await isImageActive(pool, randomUUID()), false, 'unknown');

    const live = [first, second].sort() as [string, string];
    const objects = await activeImageObjectsAfter(pool, alpha, '', 10);
    assert.deepEqual(
      objects.map((o) => o.image_id),
      live,
      "the tenant's active images in id order",
    );
    const embedded = objects.find((o) => o.image_id === first)!;
    assert.deepEqual(embedded, {
      image_id: first,
      object_key: `sha256/${sha(1)}`,
      sha256: sha(1),
      thumbnails: [`thumbnails/${first}.webp`],
    });
    assert.deepEqual(
      (await activeImageObjectsAfter(pool, alpha, live[0], 10)).map((o) => o.image_id),
      [live[1]],
      'after a cursor',
    );
    assert.equal((await activeImageObjectsAfter(pool, alpha, '', 1)).length, 1, 'at most the limit');
    assert.equal(await activeImageObjectCount(pool, alpha), 3, 'two originals and one thumbnail');
    assert.deepEqual(
      (await imageObjectKeys(pool, alpha)).map((k) => k.object_key).sort(),
      [1, 2, 3].map((n) => `sha256/${sha(n)}`),
      'every image, the deleted one too',
    );
    const now = Date.now();
    assert.equal(await bytesInUse(pool, alpha, sha(2), now), true);
    assert.equal(await bytesInUse(pool, alpha, sha(3), now), false, 'only a deleted image has it');
    assert.equal(await bytesInUse(pool, alpha, sha(4), now), false, "another tenant's");
    await pool.query(sql.typeAlias('void')`
      insert into write.intake_uploads (tenant_id, object_key, sha256, mime, bytes, width, height, expires_at)
      values (${alpha}, ${`images/${sha(3)}`}, ${sha(3)}, 'image/jpeg', 1, 1, 1, to_timestamp(${(now + 60_000) / 1000}))`);
    assert.equal(
      await bytesInUse(pool, alpha, sha(3), now),
      true,
      'an upload waiting to be registered has them',
    );
    assert.equal(await bytesInUse(pool, alpha, sha(3), now + 120_000), false, 'not once it expired');

    assert.deepEqual(
      (await liveTenantAggregates(pool, alpha)).map((a) => `${a.aggregate_type}:${a.aggregate_id}`).sort(),
      [`image:${first}`, `image:${second}`, `user:${alice}`].sort(),
    );
    assert.deepEqual(await tenantStorageRecord(pool, alpha), { storage: null, moveSource: null });
    assert.equal(await tenantStorageRecord(pool, randomUUID()), null);
    assert.deepEqual(await tenantsWithUnfinishedStorageMove(pool), []);

    assert.equal(await otherEmbeddedModelVersion(pool, { modelId: 'm', modelVersion: '2' }), '1');
    assert.equal(await otherEmbeddedModelVersion(pool, { modelId: 'm', modelVersion: '1' }), undefined);
    assert.equal(await otherEmbeddedModelVersion(pool, { modelId: 'n', modelVersion: '1' }), undefined);
    assert.deepEqual(await activeImagesEmbeddedIn(pool, { modelId: 'm', modelVersion: '1' }), [
      { tenantId: alpha, active: 2, embedded: 1 },
      { tenantId: beta, active: 1, embedded: 0 },
    ]);
  });

  it('know when the write model is not there yet', async (t) => {
    const { pool } = await createTestDatabase(t);
    assert.equal(await writeModelExists(pool), false);
  });
});
