import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { sql } from '@deeplens/platform/database';
import { LimitExceededError, PayloadTooLargeError } from '@deeplens/platform/errors';
import { createCommandHandler, type CommandHandler } from './commandHandler.ts';
import type { UploadImage } from './image/imageCommands.ts';
import { limitsOf } from './tenant/plans.ts';
import { createWriteModelDatabase } from './testing/writeModelDatabase.ts';
import { readTenantUsage } from './usageStripes.ts';
import { imageAggregate, tenantAggregate } from './writeModelRules.ts';

const admin = { actor: 'user:admin' } as const;
const count = z.object({ n: z.number() });

/** A free tenant whose plan holds `maxImages` images and `maxBytes` bytes. */
async function tenantWith(handler: CommandHandler, maxImages: number, maxBytes: number) {
  const tenantId = randomUUID();
  const limits = { ...limitsOf('free'), maxImages, maxBytes, maxImageBytes: 2000 };
  const slug = `slug-${tenantId.slice(0, 8)}`;
  await handler.handle(
    tenantAggregate,
    { type: 'ProvisionTenant', data: { tenantId, slug, name: 'Acme', plan: 'free' } },
    admin,
  );
  await handler.handle(
    tenantAggregate,
    { type: 'ChangeTenantPlan', data: { tenantId, plan: 'free', limits } },
    admin,
  );
  return { tenantId, limits };
}

/** An upload of 1000 bytes; the command carries the tenant as read, never what it stores. */
function upload(
  tenantId: string,
  limits: ReturnType<typeof limitsOf>,
): { request: Pick<UploadImage, 'type' | 'data'>; origin: typeof admin } {
  const sha256 = randomUUID().replaceAll('-', '').padEnd(64, '0');
  return {
    request: {
      type: 'UploadImage',
      data: {
        tenantId,
        imageId: randomUUID(),
        objectKey: `objects/${sha256}`,
        sha256,
        mime: 'image/jpeg',
        bytes: 1000,
        width: 10,
        height: 10,
        filename: 'a.jpg',
        tags: [],
        attributes: {},
        source: 'http',
        tenant: { status: 'active', limits },
      },
    },
    origin: admin,
  };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => assert.fail('expected a refusal'),
    (error: unknown) => error,
  );
}

describe('usage stripes: the one check of a tenant’s image and byte totals (PostgreSQL)', () => {
  it('refuses one image past the plan with 429, naming the limit and what the tenant has', async (t) => {
    const { pool } = await createWriteModelDatabase(t);
    const handler = createCommandHandler({ pool });
    const { tenantId, limits } = await tenantWith(handler, 2, 1_000_000);
    for (let i = 0; i < 2; i += 1) {
      const { request, origin } = upload(tenantId, limits);
      await handler.handle(imageAggregate, request, origin);
    }
    const { request, origin } = upload(tenantId, limits);
    const refused = await rejection(handler.handle(imageAggregate, request, origin));
    assert.ok(refused instanceof LimitExceededError, String(refused));
    assert.equal(refused.status, 429);
    assert.match(refused.message, /the free plan holds 2 images; this tenant has 2/);
    assert.deepEqual(refused.detail, { limit: 2, used: 2 });
    assert.deepEqual(await readTenantUsage(pool, tenantId), { images: 2, bytes: 2000 });
  });

  it('refuses bytes past the plan with 413, naming the limit and what the tenant stores', async (t) => {
    const { pool } = await createWriteModelDatabase(t);
    const handler = createCommandHandler({ pool });
    const { tenantId, limits } = await tenantWith(handler, 100, 2500);
    for (let i = 0; i < 2; i += 1) {
      const { request, origin } = upload(tenantId, limits);
      await handler.handle(imageAggregate, request, origin);
    }
    const { request, origin } = upload(tenantId, limits);
    const refused = await rejection(handler.handle(imageAggregate, request, origin));
    assert.ok(refused instanceof PayloadTooLargeError, String(refused));
    assert.equal(refused.status, 413);
    assert.match(refused.message, /the free plan holds 2500 bytes; this tenant has 2000/);
    assert.deepEqual(refused.detail, { limit: 2500, used: 2000 });
  });

  it('counts a group (one request’s images) once for its total and refuses it whole', async (t) => {
    const { pool } = await createWriteModelDatabase(t);
    const handler = createCommandHandler({ pool });
    const { tenantId, limits } = await tenantWith(handler, 2, 1_000_000);
    const refused = await rejection(
      handler.handleGroup(
        imageAggregate,
        [1, 2, 3].map(() => upload(tenantId, limits)),
      ),
    );
    assert.ok(refused instanceof LimitExceededError, String(refused));
    assert.deepEqual(refused.detail, { limit: 2, used: 0 });
    assert.deepEqual(await readTenantUsage(pool, tenantId), { images: 0, bytes: 0 });
    const images = await pool.oneFirst(sql.type(count)`
      select count(*)::int8 as n from write.aggregates where aggregate_type = 'image' and tenant_id = ${tenantId}`);
    assert.equal(images, 0, 'no image of the refused group is stored');

    const accepted = await handler.handleGroup(
      imageAggregate,
      [1, 2].map(() => upload(tenantId, limits)),
    );
    assert.deepEqual(
      accepted.map((a) => a.status),
      ['fulfilled', 'fulfilled'],
    );
    assert.deepEqual(await readTenantUsage(pool, tenantId), { images: 2, bytes: 2000 });
  });

  it('lets exactly one of two concurrent groups through when together they pass the limit by one', async (t) => {
    const { pool } = await createWriteModelDatabase(t);
    const handler = createCommandHandler({ pool });
    for (let round = 0; round < 6; round += 1) {
      const { tenantId, limits } = await tenantWith(handler, 3, 1_000_000);
      const groups = [2, 2].map((n) =>
        handler.handleGroup(
          imageAggregate,
          Array.from({ length: n }, () => upload(tenantId, limits)),
        ),
      );
      const outcomes = await Promise.allSettled(groups);
      const refused = outcomes.filter((o) => o.status === 'rejected');
      assert.equal(refused.length, 1, `round ${round}: exactly one group refused`);
      assert.ok(refused[0]!.reason instanceof LimitExceededError, String(refused[0]!.reason));
      assert.deepEqual(
        await readTenantUsage(pool, tenantId),
        { images: 2, bytes: 2000 },
        `round ${round}: the accepted group alone is counted`,
      );
    }
  });
});
