import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { sql } from '@deeplens/platform/database';
import {
  ConcurrencyError,
  ConflictError,
  LimitExceededError,
  UnprocessableError,
} from '@deeplens/platform/errors';
import { createCommandHandler } from './commandHandler.ts';
import { readTenantUsage } from './usageStripes.ts';
import type { UploadImage } from './image/imageCommands.ts';
import { limitsOf } from './tenant/plans.ts';
import { tenantDecider } from './tenant/tenantDecider.ts';
import { createWriteModelDatabase } from './testing/writeModelDatabase.ts';
import { imageAggregate, tenantAggregate, tenantRules } from './writeModelRules.ts';

const admin = { actor: 'user:admin' } as const;
const count = z.object({ n: z.number() });

function provision(tenantId: string, slug = `slug-${tenantId.slice(0, 8)}`) {
  return { type: 'ProvisionTenant' as const, data: { tenantId, slug, name: 'Acme', plan: 'free' as const } };
}

/**
 * The n-th upload of 1000 bytes to the tenant, carrying the limits and usage the handler read
 * before deciding (here always none used: only the write model's guard can stop an upload).
 */
function uploadCommand(
  tenantId: string,
  n: number,
  limits: ReturnType<typeof limitsOf>,
): Pick<UploadImage, 'type' | 'data'> {
  return {
    type: 'UploadImage',
    data: {
      tenantId,
      imageId: randomUUID(),
      objectKey: `objects/${String(n).padStart(64, '0')}`,
      sha256: String(n).padStart(64, '0'),
      mime: 'image/jpeg',
      bytes: 1000,
      width: 10,
      height: 10,
      filename: `${n}.jpg`,
      tags: [],
      attributes: {},
      source: 'http',
      tenant: { status: 'active', limits },
      usage: { images: 0, bytes: 0 },
    },
  };
}

describe('command handler and write model (PostgreSQL)', () => {
  it('stores state and appends the events to the outbox in one transaction', async (t) => {
    const { pool } = await createWriteModelDatabase(t);
    const handler = createCommandHandler({ pool });
    const tenantId = randomUUID();
    const result = await handler.handle(tenantAggregate, provision(tenantId), admin);

    assert.deepEqual(result.eventTypes, ['TenantProvisioned']);
    assert.equal(result.version, 1);
    const state = await handler.load(tenantDecider, tenantId);
    assert.equal(state.status, 'active');
    const outbox = await pool.many(sql.type(
      z.object({ event_id: z.string(), topic: z.string(), aggregate_version: z.number() }),
    )`
      select event_id, topic, aggregate_version from write.outbox where aggregate_id = ${tenantId}`);
    assert.deepEqual(outbox, [
      { event_id: result.eventIds[0], topic: 'deeplens.tenant.v1', aggregate_version: 1 },
    ]);
  });

  it('lets exactly one of two concurrent commands on one aggregate win; the other gets a conflict', async (t) => {
    const { pool } = await createWriteModelDatabase(t);
    const handler = createCommandHandler({ pool });
    const tenantId = randomUUID();
    await handler.handle(tenantAggregate, provision(tenantId), admin);

    for (let round = 0; round < 6; round++) {
      const { version, status } = await handler.load(tenantDecider, tenantId);
      // Two different commands decided against the same state: each alone would append an event.
      const command = (n: number) =>
        status === 'active'
          ? { type: 'SuspendTenant' as const, data: { tenantId, reason: `reason ${n}` } }
          : { type: 'ReactivateTenant' as const, data: { tenantId } };
      const outcomes = await Promise.allSettled(
        [1, 2].map((n) =>
          handler.handle(tenantAggregate, command(n), { ...admin, expectedVersion: version }),
        ),
      );
      const won = outcomes.filter((o) => o.status === 'fulfilled');
      const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
      assert.equal(won.length, 1, `round ${round}: one winner`);
      assert.equal(lost.length, 1, `round ${round}: one loser`);
      assert.ok(lost[0]!.reason instanceof ConcurrencyError, `round ${round}: ${String(lost[0]!.reason)}`);
    }
    const events = await pool.oneFirst(
      sql.type(count)`select count(*)::int8 as n from write.outbox where aggregate_id = ${tenantId}`,
    );
    assert.equal(events, 7, 'provisioned + one event per round');
  });

  it('answers a retry with the same idempotency key with the first answer and appends nothing', async (t) => {
    const { pool } = await createWriteModelDatabase(t);
    const handler = createCommandHandler({ pool });
    const tenantId = randomUUID();
    const origin = { ...admin, idempotency: { scope: 'platform', key: 'create-acme' } };
    const [first, second] = await Promise.all([
      handler.handle(tenantAggregate, provision(tenantId), origin),
      handler.handle(tenantAggregate, provision(tenantId), origin),
    ]);
    const third = await handler.handle(tenantAggregate, provision(tenantId), origin);
    assert.deepEqual(second.eventIds, first.eventIds);
    assert.deepEqual(third.eventIds, first.eventIds);
    assert.equal(third.replayed, true);
    assert.equal(await pool.oneFirst(sql.type(count)`select count(*)::int8 as n from write.outbox`), 1);

    await assert.rejects(
      handler.handle(tenantAggregate, provision(randomUUID()), origin),
      UnprocessableError,
      'the same key for a different request is refused',
    );
  });

  it('reserves a slug for one tenant only, and frees it when that tenant is erased', async (t) => {
    const { pool } = await createWriteModelDatabase(t);
    const handler = createCommandHandler({ pool });
    const first = randomUUID();
    await handler.handle(tenantAggregate, provision(first, 'acme'), admin);
    await assert.rejects(
      handler.handle(tenantAggregate, provision(randomUUID(), 'acme'), admin),
      ConflictError,
    );
    assert.equal(
      await pool.oneFirst(sql.type(count)`select count(*)::int8 as n from write.aggregates`),
      1,
      'the refused tenant left nothing',
    );

    await handler.handle(tenantAggregate, { type: 'DeleteTenant', data: { tenantId: first } }, admin);
    const again = await handler.handle(tenantAggregate, provision(randomUUID(), 'acme'), admin);
    assert.equal(again.version, 1);
  });

  it('takes the rules from the decider they are bound to; an unbound decider must bring exactly those', async (t) => {
    const { pool } = await createWriteModelDatabase(t);
    const handler = createCommandHandler({ pool });
    const tenantId = randomUUID();
    // Forgetting the rules does not compile (the reservation of the slug would be skipped):
    const forgetful = () =>
      // @ts-expect-error a decider that has rules cannot be handled without them
      handler.handle(tenantDecider, provision(tenantId, 'bound'), admin);
    assert.equal(typeof forgetful, 'function');
    await assert.rejects(
      handler.handle(tenantDecider, provision(tenantId, 'bound'), admin, {}),
      /the tenant decider was given rules other than its own/,
    );
    assert.equal((await handler.load(tenantAggregate, tenantId)).status, 'initial', 'nothing was decided');

    await handler.handle(tenantDecider, provision(tenantId, 'bound'), admin, tenantRules);
    await assert.rejects(
      handler.handle(tenantAggregate, provision(randomUUID(), 'bound'), admin),
      ConflictError,
      "the bound decider's reservation holds without being passed",
    );
  });

  it('never lets concurrent uploads exceed the plan image limit', async (t) => {
    const { pool } = await createWriteModelDatabase(t);
    const handler = createCommandHandler({ pool });
    const tenantId = randomUUID();
    const limits = { ...limitsOf('free'), maxImages: 3 };
    // Every upload read the same, stale usage: only the write model's guard can stop the fourth.
    const upload = (i: number) => uploadCommand(tenantId, i, limits);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => handler.handle(imageAggregate, upload(i), admin)),
    );
    const accepted = outcomes.filter((o) => o.status === 'fulfilled').length;
    assert.equal(accepted, 3);
    for (const o of outcomes) if (o.status === 'rejected') assert.ok(o.reason instanceof LimitExceededError);
    assert.deepEqual(await readTenantUsage(pool, tenantId), { images: 3, bytes: 3000 });
  });

  it('holds a lowered plan limit at once, although stripes hold grants from the old plan', async (t) => {
    const { pool } = await createWriteModelDatabase(t);
    const handler = createCommandHandler({ pool });
    const tenantId = randomUUID();
    await handler.handle(tenantAggregate, provision(tenantId), admin);
    const upload = (i: number, limits: ReturnType<typeof limitsOf>) =>
      handler.handle(imageAggregate, uploadCommand(tenantId, i, limits), admin);
    const before = limitsOf('free');
    for (let i = 0; i < 12; i += 1) await upload(i, before);
    const granted = await pool.oneFirst(sql.type(count)`
      select sum(images_granted)::int8 as n from write.usage_stripes where tenant_id = ${tenantId}`);
    assert.ok(granted > 12, `stripes hold grants beyond their use (${granted})`);

    const after = { ...limitsOf('enterprise'), maxImages: 14 };
    await handler.handle(
      tenantAggregate,
      { type: 'ChangeTenantPlan', data: { tenantId, plan: 'enterprise', limits: after } },
      admin,
    );
    // Uploads that still carry the old limits (read before the change) are held to the new ones.
    const outcomes = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => upload(100 + i, before)));
    assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 2);
    for (const o of outcomes) if (o.status === 'rejected') assert.ok(o.reason instanceof LimitExceededError);
    assert.deepEqual(await readTenantUsage(pool, tenantId), { images: 14, bytes: 14_000 });
  });
});
