import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { createEventSerde, registrySchemaStore } from '@deeplens/events/eventSerde';
import { sampleEvents } from '@deeplens/events/testing/sampleEvents';
import { topicsWithPrefix } from '@deeplens/events/topics';
import { generateApiKey, verifyApiKeySecret } from '@deeplens/platform/auth/apiKeys';
import { hashPassword, verifyPassword } from '@deeplens/platform/auth/passwords';
import { sql, type DatabasePool } from '@deeplens/platform/database';
import { ConflictError, UnprocessableError } from '@deeplens/platform/errors';
import { createKafka } from '@deeplens/platform/kafka';
import { createSchemaRegistry } from '@deeplens/platform/schemaRegistry';
import { createTestTopics, uniqueName } from '@deeplens/platform/testing/testTopics';
import { createOutboxRelay } from './outbox/outboxRelay.ts';
import { createApiKeyResolver } from './apiKeyLookup.ts';
import { appendToOutbox, createCommandHandler, type CommandOrigin } from './commandHandler.ts';
import type { UserState } from './identity/userState.ts';
import { userDecider } from './identity/userDecider.ts';
import type { UploadImage } from './image/imageCommands.ts';
import { recoverWriteModel, type RecoverMode } from './recoverWriteModel.ts';
import { limitsOf } from './tenant/plans.ts';
import { createWriteModelDatabase } from './testing/writeModelDatabase.ts';
import { readTenantUsage } from './usageStripes.ts';
import { apiKeyAggregate, imageAggregate, tenantAggregate, userAggregate } from './writeModelRules.ts';

const admin: CommandOrigin = { actor: 'user:admin' };
const row = z.object({ row: z.string() });

/** The write model as recovery must reproduce it (updated_at and stripe layout are not part of it). */
async function dumpWriteModel(pool: DatabasePool) {
  return {
    aggregates: [
      ...(await pool.anyFirst(sql.type(row)`
        select jsonb_build_array(aggregate_type, aggregate_id, tenant_id, version, state)::text as row
        from write.aggregates order by 1`)),
    ],
    reservations: [
      ...(await pool.anyFirst(sql.type(row)`
        select jsonb_build_array(kind, value, aggregate_id)::text as row
        from write.unique_reservations order by 1`)),
    ],
    usage: [
      ...(await pool.anyFirst(sql.type(row)`
        select jsonb_build_array(tenant_id, sum(images), sum(bytes))::text as row
        from write.usage_stripes group by tenant_id
        having sum(images) <> 0 or sum(bytes) <> 0 order by 1`)),
    ],
  };
}

async function outboxCounts(pool: DatabasePool) {
  return pool.one(sql.type(z.object({ total: z.number(), unpublished: z.number() }))`
    select count(*)::int8 as total, count(*) filter (where published_at is null)::int8 as unpublished
    from write.outbox`);
}

describe('write-model recovery from the log (Kafka + PostgreSQL)', () => {
  it('recovers states, versions, reservations, usage, API keys and users; verify finds no difference', async (t) => {
    const { pool, config, url } = await createWriteModelDatabase(t);
    const kafka = createKafka(config, 'recover-test');
    const prefix = `${uniqueName('recover')}.`;
    const named = topicsWithPrefix(prefix);
    await createTestTopics(
      t,
      kafka,
      [named.tenant, named.identity, named.image].map((topic) => ({ topic, partitions: 3 })),
    );
    const serde = createEventSerde(
      registrySchemaStore(createSchemaRegistry(config), config.SCHEMA_REGISTRY_URL),
    );
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    t.after(() => producer.disconnect());
    const relay = createOutboxRelay({
      databaseUrl: url,
      producer,
      serde,
      topicPrefix: prefix,
      pollIntervalMs: 50,
    });
    relay.start();
    t.after(() => relay.stop());
    const recover = (mode: RecoverMode) =>
      recoverWriteModel({ kafka, serde, databaseUrl: url, topicPrefix: prefix, mode });

    // --- a history, through the command handler ----------------------------------------------
    const handler = createCommandHandler({ pool });
    const [alpha, beta, gamma, delta] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    const provision = (tenantId: string, slug: string) =>
      handler.handle(
        tenantAggregate,
        { type: 'ProvisionTenant', data: { tenantId, slug, name: slug, plan: 'free' } },
        admin,
      );
    await provision(alpha, 'alpha');
    await provision(beta, 'beta');
    await provision(gamma, 'gamma');
    await handler.handle(
      tenantAggregate,
      { type: 'ChangeTenantPlan', data: { tenantId: alpha, plan: 'pro' } },
      admin,
    );

    const password = 'correct horse battery staple';
    const users = { root: randomUUID(), alice: randomUUID(), bob: randomUUID() };
    const register = (
      userId: string,
      tenantId: string | null,
      email: string,
      role: 'platform_admin' | 'tenant_admin' | 'tenant_user',
    ) =>
      hashPassword(password).then((passwordHash) =>
        handler.handle(
          userAggregate,
          { type: 'RegisterUser', data: { userId, tenantId, email, passwordHash, role } },
          admin,
        ),
      );
    await register(users.root, null, 'root@example.com', 'platform_admin');
    await register(users.alice, alpha, 'Alice@Example.com', 'tenant_admin');
    await register(users.bob, beta, 'bob@example.com', 'tenant_admin');
    await handler.handle(
      userAggregate,
      { type: 'ChangeUserRole', data: { userId: users.bob, role: 'tenant_user' } },
      admin,
    );
    await handler.handle(
      userAggregate,
      { type: 'DisableUser', data: { userId: users.bob, reason: 'left' } },
      admin,
    );

    const keys = { alpha: generateApiKey(), beta: generateApiKey(), revoked: generateApiKey() };
    for (const [tenantId, key] of [
      [alpha, keys.alpha],
      [beta, keys.beta],
      [alpha, keys.revoked],
    ] as const) {
      await handler.handle(
        apiKeyAggregate,
        {
          type: 'IssueApiKey',
          data: {
            keyId: key.keyId,
            tenantId,
            prefix: key.prefix,
            secretHash: key.secretHash,
            scopes: ['search', 'images:write'],
          },
        },
        admin,
      );
    }
    await handler.handle(
      apiKeyAggregate,
      { type: 'RevokeApiKey', data: { keyId: keys.revoked.keyId, tenantId: alpha, reason: 'rotated' } },
      admin,
    );

    const upload = (tenantId: string, n: number, bytes = 1000 + n): Pick<UploadImage, 'type' | 'data'> => ({
      type: 'UploadImage',
      data: {
        tenantId,
        imageId: randomUUID(),
        objectKey: `sha256/${String(n).padStart(64, '0')}`,
        sha256: String(n).padStart(64, '0'),
        mime: 'image/jpeg',
        bytes,
        width: 10,
        height: 10,
        filename: `${n}.jpg`,
        tags: ['a'],
        attributes: { n: String(n) },
        source: 'http',
        tenant: { status: 'active', limits: limitsOf('pro') },
      },
    });
    const images: { tenantId: string; imageId: string }[] = [];
    for (let n = 0; n < 8; n++) {
      const tenantId = n < 5 ? alpha : beta;
      const command = upload(tenantId, n);
      await handler.handle(imageAggregate, command, admin);
      images.push({ tenantId, imageId: command.data.imageId });
    }
    const [first, second, third] = images as [(typeof images)[0], (typeof images)[0], (typeof images)[0]];
    await handler.handle(
      imageAggregate,
      {
        type: 'RecordImageEmbedding',
        data: {
          ...first,
          modelId: 'm',
          modelVersion: '1',
          vector: Float32Array.from([0.1, 0.2, 0.3]),
          thumbnail: {
            objectKey: `thumbnails/${first.imageId}.webp`,
            width: 8,
            height: 8,
            mime: 'image/webp',
          },
        },
      },
      { actor: 'system:embedder' },
    );
    await handler.handle(
      imageAggregate,
      { type: 'UpdateImageMetadata', data: { ...second, tags: ['b', 'c'], attributes: { shelf: '2' } } },
      admin,
    );
    await handler.handle(imageAggregate, { type: 'DeleteImage', data: third }, admin);

    await handler.handle(
      tenantAggregate,
      { type: 'SuspendTenant', data: { tenantId: beta, reason: 'unpaid' } },
      admin,
    );
    await handler.handle(tenantAggregate, { type: 'DeleteTenant', data: { tenantId: gamma } }, admin);
    await provision(delta, 'gamma');
    // An installation's fact that no aggregate folds (an embedding space retired): passed over.
    await pool.transaction((tx) => appendToOutbox(tx, sampleEvents.EmbeddingSpaceRetired, 'embedding-space'));

    // Up to 60 s: the relay's first batches look up every event type's schema in the registry,
    // slow on a loaded machine (10 s was seen to be too short).
    for (let i = 0; (await outboxCounts(pool)).unpublished > 0; i++) {
      assert.ok(i < 1200, 'the relay publishes the outbox');
      await sleep(50);
    }
    const before = await dumpWriteModel(pool);
    const outboxBefore = await outboxCounts(pool);

    // --- the oracle on the live write model ----------------------------------------------------
    const checked = await recover('verify');
    assert.deepEqual(checked.differences, []);
    assert.equal(checked.aggregates, before.aggregates.length);
    await assert.rejects(recover('recover'), ConflictError, 'a write model that is not empty is refused');

    // --- the write model is lost (its bookkeeping row stays: the tables come back anyway) -------
    await pool.query(sql.unsafe`drop schema write cascade`);
    await assert.rejects(
      recover('verify'),
      UnprocessableError,
      'nothing to verify, and verify creates nothing',
    );
    const recovered = await recover('recover');
    assert.equal(recovered.records, outboxBefore.total, 'every event in the log was read');
    assert.equal(recovered.duplicates, 0);
    assert.deepEqual(await dumpWriteModel(pool), before);
    assert.deepEqual(
      await outboxCounts(pool),
      { total: 0, unpublished: 0 },
      'nothing emitted, nothing to relay',
    );
    assert.deepEqual((await recover('verify')).differences, []);

    // Idempotent when forced: the same write model again.
    await recover('force');
    assert.deepEqual(await dumpWriteModel(pool), before);

    // API keys authenticate (the revoked one stays revoked, a suspended tenant's key does not).
    const resolve = createApiKeyResolver(pool, handler);
    const alphaKey = await resolve(keys.alpha.prefix);
    assert.ok(alphaKey && verifyApiKeySecret(keys.alpha.secret, alphaKey.secretHash) && !alphaKey.revoked);
    assert.equal((await resolve(keys.revoked.prefix))?.revoked, true);
    assert.equal(await resolve(keys.beta.prefix), undefined, 'beta is suspended');

    // Passwords sign in, by e-mail as sign-in finds the user.
    const userIdOf = (email: string) =>
      pool.oneFirst(sql.type(z.object({ aggregate_id: z.string() }))`
        select aggregate_id from write.unique_reservations where kind = 'user_email' and value = ${email}`);
    const alice: UserState = await handler.load(userDecider, await userIdOf('alice@example.com'));
    assert.ok(alice.status === 'active' && (await verifyPassword(alice.passwordHash, password)));
    assert.equal((await handler.load(userDecider, users.bob)).status, 'disabled');

    // Taken slugs stay taken ('gamma' now by delta); the command side carries on.
    await assert.rejects(provision(randomUUID(), 'alpha'), ConflictError);
    await assert.rejects(provision(randomUUID(), 'gamma'), ConflictError);
    await handler.handle(imageAggregate, upload(alpha, 100, 5000), admin);
    const alphaUploads = images.filter((i) => i.tenantId === alpha);
    assert.deepEqual(await readTenantUsage(pool, alpha), {
      images: alphaUploads.length - 1 + 1,
      bytes: [0, 1, 3, 4].reduce((sum, n) => sum + 1000 + n, 5000),
    });

    // --- verify notices what the log does not say ------------------------------------------------
    for (let i = 0; (await outboxCounts(pool)).unpublished > 0; i++) {
      assert.ok(i < 200, 'the relay publishes the new upload');
      await sleep(50);
    }
    await pool.query(sql.unsafe`
      update write.aggregates set state = jsonb_set(state, '{name}', '"tampered"'), updated_at = now() - interval '1 hour'
      where aggregate_type = 'tenant' and aggregate_id = ${alpha}`);
    await pool.query(
      sql.unsafe`delete from write.unique_reservations where kind = 'user_email' and value = 'bob@example.com'`,
    );
    const tampered = await recover('verify');
    assert.deepEqual(
      tampered.differences?.map((d) => [d.table, d.key, d.fields]),
      [
        ['aggregates', `tenant ${alpha}`, ['name']],
        ['unique_reservations', 'user_email bob@example.com', undefined],
      ],
    );

    // --- a record that cannot be decoded stops recovery, naming it -------------------------------
    const [sent] = await producer.send({
      topic: named.tenant,
      messages: [{ key: alpha, value: Buffer.from('not an event') }],
    });
    await assert.rejects(
      recover('force'),
      (e: unknown) =>
        e instanceof UnprocessableError &&
        e.message.startsWith(`${named.tenant}:${sent!.partition}:${sent!.baseOffset} cannot be decoded`),
    );
    assert.equal(
      (await dumpWriteModel(pool)).aggregates.length,
      before.aggregates.length + 1,
      'a failed recovery leaves the write model as it was',
    );
  });
});
