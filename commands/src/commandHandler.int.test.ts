import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { decodeEvent } from '@deeplens/events/eventCodec';
import { sql } from '@deeplens/platform/database';
import {
  ConcurrencyError,
  ConflictError,
  LimitExceededError,
  UnprocessableError,
} from '@deeplens/platform/errors';
import { createCommandHandler, createCommitQueue } from './commandHandler.ts';
import { readTenantUsage } from './usageStripes.ts';
import type { UploadImage } from './image/imageCommands.ts';
import { limitsOf } from './tenant/plans.ts';
import { tenantDecider } from './tenant/tenantDecider.ts';
import { createWriteModelDatabase } from './testing/writeModelDatabase.ts';
import { imageAggregate, tenantAggregate, tenantRules, userAggregate } from './writeModelRules.ts';

const admin = { actor: 'user:admin' } as const;
const count = z.object({ n: z.number() });

function provision(tenantId: string, slug = `slug-${tenantId.slice(0, 8)}`) {
  return { type: 'ProvisionTenant' as const, data: { tenantId, slug, name: 'Acme', plan: 'free' as const } };
}

/**
 * The n-th upload of 1000 bytes to the tenant, carrying the limits the handler read before
 * deciding; what the tenant already stores is the write model's count, the only guard.
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

  it('stores a group of commands in one transaction and answers each as handle would', async (t) => {
    const { pool } = await createWriteModelDatabase(t);
    const handler = createCommandHandler({ pool });
    const tenantId = randomUUID();
    await handler.handle(tenantAggregate, provision(tenantId), admin);
    const limits = limitsOf('free');
    const images: string[] = [];
    for (let n = 0; n < 5; n++) {
      const upload = uploadCommand(tenantId, n, limits);
      await handler.handle(imageAggregate, upload, admin);
      images.push(upload.data.imageId);
    }
    await handler.handle(
      imageAggregate,
      { type: 'DeleteImage', data: { tenantId, imageId: images[4]! } },
      admin,
    );
    const embedding = (imageId: string, step = 'embedding') => ({
      request: {
        type: 'RecordImageEmbedding' as const,
        data: { tenantId, imageId, modelId: 'm', modelVersion: '1', vector: Float32Array.of(0.6, 0.8) },
      },
      origin: {
        actor: 'system:embedder' as const,
        idempotency: { scope: 'embedder', key: `${imageId}:${step}` },
      },
    });
    // Recorded before the group: the group answers it from its key.
    const earlier = await handler.handle(
      imageAggregate,
      embedding(images[0]!).request,
      embedding(images[0]!).origin,
    );
    const outboxBefore = await pool.oneFirst(sql.type(count)`select count(*)::int8 as n from write.outbox`);

    const group = [
      embedding(images[0]!),
      embedding(images[1]!),
      embedding(images[2]!),
      embedding(images[3]!),
      // The image is deleted: refused as `handle` refuses it.
      embedding(images[4]!),
      // A second command on an aggregate of the group: decided after the first, on its state.
      embedding(images[1]!, 'again'),
      // A key already used for another request.
      { ...embedding(images[2]!), origin: embedding(images[0]!).origin },
    ];
    const answers = await handler.handleGroup(imageAggregate, group);
    assert.equal(answers.length, group.length);
    const [a0, a1, a2, a3, a4, a5, a6] = answers;
    assert.deepEqual(a0, { status: 'fulfilled', value: { ...earlier, replayed: true } });
    for (const [answer, imageId] of [
      [a1, images[1]],
      [a2, images[2]],
      [a3, images[3]],
    ] as const) {
      assert.equal(answer?.status, 'fulfilled');
      assert.deepEqual(answer.value.eventTypes, ['ImageEmbedded']);
      assert.equal(answer.value.aggregateId, imageId);
      assert.equal(answer.value.version, 2);
      assert.equal(answer.value.replayed, false);
      const state = await handler.load(imageAggregate, imageId!);
      assert.equal(state.version, 2);
      assert.deepEqual(state.status === 'active' && state.embeddings, [{ modelId: 'm', modelVersion: '1' }]);
    }
    assert.equal(a4?.status, 'rejected');
    assert.ok(a4.reason instanceof ConflictError, 'a deleted image refuses its embedding');
    assert.deepEqual(a5, {
      status: 'fulfilled',
      value: { aggregateId: images[1], version: 2, eventIds: [], eventTypes: [], replayed: false },
    });
    assert.equal(a6?.status, 'rejected');
    assert.ok(a6.reason instanceof UnprocessableError, 'a key used for a different request is refused');

    const outbox = await pool.many(
      sql.type(
        z.object({ aggregate_id: z.string(), event_type: z.string(), aggregate_version: z.number() }),
      )`select aggregate_id, event_type, aggregate_version from write.outbox order by position offset ${outboxBefore}`,
    );
    assert.deepEqual(
      outbox,
      [1, 2, 3].map((n) => ({ aggregate_id: images[n], event_type: 'ImageEmbedded', aggregate_version: 2 })),
    );

    const payload = await pool.oneFirst(sql.type(z.object({ payload: z.instanceof(Buffer) }))`
      select payload from write.outbox where aggregate_id = ${images[2]!} and event_type = 'ImageEmbedded'`);
    const decoded = decodeEvent('ImageEmbedded', payload);
    assert.deepEqual([...decoded.data.vector], [...Float32Array.of(0.6, 0.8)]);
    assert.equal(decoded.metadata.eventId, a2?.status === 'fulfilled' && a2.value.eventIds[0]);

    // The same group again (a redelivery): every answer from its key, nothing appended.
    const again = await handler.handleGroup(imageAggregate, group.slice(0, 4));
    assert.deepEqual(
      again.map((a) => a.status === 'fulfilled' && a.value.replayed),
      [true, true, true, true],
    );
    assert.deepEqual(
      again.map((a) => a.status === 'fulfilled' && a.value.eventIds),
      [a0, a1, a2, a3].map((a) => a?.status === 'fulfilled' && a.value.eventIds),
    );
    assert.equal(
      await pool.oneFirst(sql.type(count)`select count(*)::int8 as n from write.outbox`),
      outboxBefore + 3,
    );
  });

  it('lets a group lose to a concurrent command on one of its aggregates, each command then decided alone', async (t) => {
    const { pool } = await createWriteModelDatabase(t);
    const handler = createCommandHandler({ pool });
    const tenantId = randomUUID();
    await handler.handle(tenantAggregate, provision(tenantId), admin);
    const images: string[] = [];
    for (let n = 0; n < 3; n++) {
      const upload = uploadCommand(tenantId, n, limitsOf('free'));
      await handler.handle(imageAggregate, upload, admin);
      images.push(upload.data.imageId);
    }
    const group = images.map((imageId) => ({
      request: {
        type: 'RecordImageEmbedding' as const,
        data: { tenantId, imageId, modelId: 'm', modelVersion: '1', vector: Float32Array.of(1, 0) },
      },
      origin: { actor: 'system:embedder' as const, idempotency: { scope: 'embedder', key: imageId } },
    }));
    // Many groups at once, and metadata edits on the same images: every embedding is recorded
    // once, every edit too, whatever the interleaving.
    // (Each edit's refusal is caught at once: one left unhandled while the groups run would
    // fail the test as an unhandled rejection, whatever the assertion below says.)
    const edits = images.map((imageId) =>
      handler
        .handle(
          imageAggregate,
          { type: 'UpdateImageMetadata', data: { tenantId, imageId, tags: ['edited'], attributes: {} } },
          admin,
        )
        .then(
          () => undefined,
          (error: unknown) => error,
        ),
    );
    const groups = await Promise.all([1, 2, 3].map(() => handler.handleGroup(imageAggregate, group)));
    for (const refused of await Promise.all(edits))
      assert.ok(refused === undefined || refused instanceof ConcurrencyError, String(refused));
    for (const answers of groups)
      for (const answer of answers)
        if (answer.status === 'rejected')
          assert.ok(answer.reason instanceof ConcurrencyError, String(answer.reason));
    // As the embedder does after a concurrency conflict: the same commands once more.
    const last = await handler.handleGroup(imageAggregate, group);
    assert.deepEqual(
      last.map((a) => a.status),
      ['fulfilled', 'fulfilled', 'fulfilled'],
    );
    for (const imageId of images) {
      const state = await handler.load(imageAggregate, imageId);
      assert.ok(state.status === 'active');
      assert.deepEqual(state.embeddings, [{ modelId: 'm', modelVersion: '1' }]);
      const embedded = await pool.oneFirst(sql.type(count)`
        select count(*)::int8 as n from write.outbox where aggregate_id = ${imageId} and event_type = 'ImageEmbedded'`);
      assert.equal(embedded, 1);
    }
  });

  it('claims a request, stores its answer with the command that completes it, alone or in a group', async (t) => {
    const { pool } = await createWriteModelDatabase(t);
    const handler = createCommandHandler({ pool });
    const answer = { status: 201, headers: { location: '/x' }, sealedBody: 'sealed' };
    const request = (key: string) => ({ scope: 'http:user:a', key, fingerprint: `f-${key}` });
    const origin = (key: string, n: number, answering: boolean) => ({
      ...admin,
      idempotency: {
        scope: 'http:user:a',
        key: `POST /v1/tenants ${key}#${n}`,
        fingerprint: `f-${key}`,
        ...(answering ? { requestAnswer: { key, answer } } : {}),
      },
    });
    const writers = async (key: string) =>
      new Set(
        await pool.anyFirst(sql.type(z.object({ writer: z.string() }))`
          select xmin::text as writer from write.idempotency_keys
          where key = ${key} or key like ${`% ${key}#%`}`),
      ).size;

    assert.deepEqual(await handler.claimRequest(request('alone')), { kind: 'claimed' });
    assert.deepEqual(await handler.claimRequest(request('alone')), { kind: 'running' });
    await assert.rejects(
      handler.claimRequest({ ...request('alone'), fingerprint: 'other' }),
      UnprocessableError,
    );
    await handler.handle(tenantAggregate, provision(randomUUID()), origin('alone', 0, true));
    assert.deepEqual(await handler.claimRequest(request('alone')), { kind: 'answered', answer });
    assert.equal(await writers('alone'), 1, 'the answer and the command in one transaction');

    assert.deepEqual(await handler.claimRequest(request('group')), { kind: 'claimed' });
    const results = await handler.handleGroup(tenantAggregate, [
      { request: provision(randomUUID()), origin: origin('group', 0, false) },
      { request: provision(randomUUID()), origin: origin('group', 1, true) },
    ]);
    assert.ok(results.every((r) => r.status === 'fulfilled'));
    assert.deepEqual(await handler.claimRequest(request('group')), { kind: 'answered', answer });
    assert.equal(await writers('group'), 1);

    // A request refused gives its claim back: a retry runs afresh.
    assert.deepEqual(await handler.claimRequest(request('refused')), { kind: 'claimed' });
    await handler.releaseRequest(request('refused'));
    assert.deepEqual(await handler.claimRequest(request('refused')), { kind: 'claimed' });
  });

  it('tells its credential listeners of a committed tenant, user or key change, not of an image or a refusal', async (t) => {
    const { pool } = await createWriteModelDatabase(t);
    const handler = createCommandHandler({ pool });
    let told = 0;
    const stop = handler.credentialChanges.onChange(() => (told += 1));
    const tenantId = randomUUID();
    await handler.handle(tenantAggregate, provision(tenantId), admin);
    assert.equal(told, 1, 'told before the command returned');
    const limits = limitsOf('free');
    await handler.handle(imageAggregate, uploadCommand(tenantId, 1, limits), admin);
    await handler.handleGroup(
      imageAggregate,
      [2, 3].map((n) => ({ request: uploadCommand(tenantId, n, limits), origin: admin })),
    );
    assert.equal(told, 1, 'images change no credential');
    await assert.rejects(handler.handle(tenantAggregate, provision(tenantId), admin), ConflictError);
    assert.equal(told, 1, 'a refused command changes nothing');
    await handler.handle(
      userAggregate,
      {
        type: 'RegisterUser',
        data: { userId: randomUUID(), tenantId, email: 'a@b.test', passwordHash: 'x', role: 'tenant_user' },
      },
      admin,
    );
    assert.equal(told, 2);
    const results = await handler.handleGroup(tenantAggregate, [
      { request: { type: 'SuspendTenant', data: { tenantId, reason: 'unpaid' } }, origin: admin },
      { request: provision(randomUUID()), origin: admin },
    ]);
    assert.ok(results.every((r) => r.status === 'fulfilled'));
    assert.ok(told > 2, 'a group that changed tenants tells too');
    const before = told;
    stop();
    await handler.handle(tenantAggregate, { type: 'ReactivateTenant', data: { tenantId } }, admin);
    assert.equal(told, before, 'a removed listener is told nothing');
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
    // Only the write model's count can stop the fourth.
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
  it('commit queue: requests that arrive while a group is stored share the next transaction', async (t) => {
    const { pool } = await createWriteModelDatabase(t);
    const handler = createCommandHandler({ pool });
    const queue = createCommitQueue(handler, imageAggregate, { maxInFlight: 1 });
    const tenantId = randomUUID();
    const limits = limitsOf('free');
    const request = (...ns: number[]) =>
      ns.map((n) => ({ request: uploadCommand(tenantId, n, limits), origin: admin }));
    // The first starts at once; the three after it wait for it and go together.
    const requests = [request(0), request(1, 2), request(3), request(4)];
    const answers = await Promise.all(requests.map((r) => queue.submit(r)));
    answers.forEach((answer, r) => {
      assert.deepEqual(
        answer.map((a) => (a.status === 'fulfilled' ? a.value.aggregateId : String(a.reason))),
        requests[r]!.map((c) => c.request.data.imageId),
      );
    });
    const writerOf = async (imageIds: string[]) =>
      pool.anyFirst(sql.type(z.object({ writer: z.string() }))`
        select distinct xmin::text as writer from write.aggregates
        where aggregate_type = 'image' and aggregate_id = any(${sql.array(imageIds, 'text')})`);
    const ids = (r: number) => requests[r]!.map((c) => c.request.data.imageId);
    const [first] = await writerOf(ids(0));
    const joined = await writerOf([...ids(1), ...ids(2), ...ids(3)]);
    assert.equal(joined.length, 1, 'the three waiting requests were stored in one transaction');
    assert.notEqual(joined[0], first);
    assert.deepEqual(await readTenantUsage(pool, tenantId), { images: 5, bytes: 5000 });
  });

  it('commit queue: a request past the limit in a shared group is refused alone; the others are stored', async (t) => {
    const { pool } = await createWriteModelDatabase(t);
    const handler = createCommandHandler({ pool });
    const queue = createCommitQueue(handler, imageAggregate, { maxInFlight: 1 });
    const tenantId = randomUUID();
    const limits = { ...limitsOf('free'), maxImages: 5 };
    const request = (...ns: number[]) =>
      ns.map((n) => ({ request: uploadCommand(tenantId, n, limits), origin: admin }));
    // 1 stored first; then 1 + 4 + 1 wait together: 7 > 5, so the group is refused and each
    // request runs alone: the four-image request is refused whole, the two others fit.
    const outcomes = await Promise.allSettled([
      queue.submit(request(0)),
      queue.submit(request(1)),
      queue.submit(request(2, 3, 4, 5)),
      queue.submit(request(6)),
    ]);
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['fulfilled', 'fulfilled', 'rejected', 'fulfilled'],
    );
    const refused = outcomes[2];
    assert.ok(refused?.status === 'rejected' && refused.reason instanceof LimitExceededError);
    for (const o of [outcomes[1], outcomes[3]])
      assert.ok(o?.status === 'fulfilled' && o.value.every((a) => a.status === 'fulfilled'));
    assert.deepEqual(await readTenantUsage(pool, tenantId), { images: 3, bytes: 3000 });
    const images = await pool.oneFirst(sql.type(count)`
      select count(*)::int8 as n from write.aggregates where aggregate_type = 'image' and tenant_id = ${tenantId}`);
    assert.equal(images, 3, 'no image of the refused request is stored');
  });
});
