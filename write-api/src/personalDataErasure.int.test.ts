import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import avro from 'avsc';
import type { Kafka } from 'kafkajs';
import { z } from 'zod';
import { createCommandHandler, type CommandOrigin } from '@deeplens/commands/commandHandler';
import { eraseUserPersonalData } from '@deeplens/commands/identity/erasePersonalData';
import { recoverWriteModel } from '@deeplens/commands/recoverWriteModel';
import { createWriteModelDatabase } from '@deeplens/commands/testing/writeModelDatabase';
import {
  apiKeyAggregate,
  intakeKeyAggregate,
  tenantAggregate,
  userAggregate,
} from '@deeplens/commands/writeModelRules';
import { ensureEventTopics } from '@deeplens/events/ensureEventTopics';
import { createEventSerde, registrySchemaStore } from '@deeplens/events/eventSerde';
import { erasedEmail } from '@deeplens/events/personalData';
import { topicsWithPrefix } from '@deeplens/events/topics';
import { generateApiKey } from '@deeplens/platform/auth/apiKeys';
import { hashPassword } from '@deeplens/platform/auth/passwords';
import { newDataKey, tenantSubject, userSubject } from '@deeplens/platform/dataKeys';
import { sql } from '@deeplens/platform/database';
import { createKafka } from '@deeplens/platform/kafka';
import { dataKeysTopic, startKafkaDataKeyStore } from '@deeplens/platform/kafkaDataKeyStore';
import { createLogger } from '@deeplens/platform/logger';
import { createSchemaRegistry } from '@deeplens/platform/schemaRegistry';
import { createTestDatabase } from '@deeplens/platform/testing/testDatabase';
import { uniqueName } from '@deeplens/platform/testing/testTopics';
import { projectionDefinitions } from '@deeplens/projections/projectionRuntime';
import { startProjectionService } from '@deeplens/projections/projectionService';
import { createProjectionDatabase, waitForCaughtUp } from '@deeplens/projections/testing/projectionTestKit';
import { createOutboxRelay } from '@deeplens/commands/outbox/outboxRelay';
import { createTenantEraser } from './tenantEraser.ts';

const admin: CommandOrigin = { actor: 'user:admin' };

type RawRecord = { topic: string; key: string | null; value: Buffer | null };

/** Every record of `topics`, from the first offset to the current end, with a plain consumer. */
async function readAll(kafka: Kafka, topics: string[]): Promise<RawRecord[]> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map<string, bigint>();
  try {
    for (const topic of topics) {
      for (const p of await admin.fetchTopicOffsets(topic)) {
        if (BigInt(p.high) > BigInt(p.low)) ends.set(`${topic}:${p.partition}`, BigInt(p.high));
      }
    }
  } finally {
    await admin.disconnect();
  }
  const records: RawRecord[] = [];
  if (ends.size === 0) return records;
  const consumer = kafka.consumer({ groupId: uniqueName('erasure-scan'), maxWaitTimeInMs: 200 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out scanning the topics')), 120_000);
      void consumer
        .run({
          eachBatch: async ({ batch }) => {
            for (const m of batch.messages) {
              records.push({ topic: batch.topic, key: m.key?.toString() ?? null, value: m.value });
            }
            const partition = `${batch.topic}:${batch.partition}`;
            const end = ends.get(partition);
            if (end !== undefined && BigInt(batch.lastOffset()) + 1n >= end) ends.delete(partition);
            if (ends.size === 0) {
              clearTimeout(timer);
              resolve();
            }
            await Promise.resolve();
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return records;
}

/** A stock decode: the writer schema from the registry's REST API, read with plain avsc. */
async function stockDecode(registryUrl: string, value: Buffer): Promise<string> {
  if (value[0] !== 0 || value.length < 5) return '';
  const response = await fetch(`${registryUrl.replace(/\/$/, '')}/schemas/ids/${value.readUInt32BE(1)}`);
  assert.ok(response.ok, `schema ${value.readUInt32BE(1)} is in the registry`);
  const { schema } = (await response.json()) as { schema: string };
  const decoded: unknown = avro.Type.forSchema(JSON.parse(schema) as avro.Schema).fromBuffer(
    value.subarray(5),
  );
  return JSON.stringify(decoded, (_key, v: unknown) =>
    Buffer.isBuffer(v) ? v.toString('latin1') : typeof v === 'bigint' ? String(v) : v,
  );
}

describe('crypto-shredding: erasure leaves no personal data readable in any topic', () => {
  it('after a user and a tenant are erased, no topic holds their e-mails, names or hashes; a rebuild from the log and recover --verify show them erased', async (t) => {
    const { pool, config, url } = await createWriteModelDatabase(t);
    const kafka = createKafka(config, 'erasure-test');
    const prefix = `${uniqueName('erasure')}.`;
    const named = topicsWithPrefix(prefix);
    const keyTopic = `${prefix}${dataKeysTopic}`;
    const kafkaAdmin = kafka.admin();
    await kafkaAdmin.connect();
    t.after(async () => {
      await kafkaAdmin.deleteTopics({ topics: [...Object.values(named), keyTopic] }).catch(() => undefined);
      await kafkaAdmin.disconnect();
    });
    await ensureEventTopics(kafkaAdmin, 2, prefix);

    const handler = createCommandHandler({ pool });
    const masterKey = newDataKey();
    const dataKeys = await startKafkaDataKeyStore({ kafka, databaseUrl: url, masterKey, topic: keyTopic });
    t.after(() => dataKeys.stop());
    const schemaStore = registrySchemaStore(createSchemaRegistry(config), config.SCHEMA_REGISTRY_URL);
    const serde = createEventSerde(schemaStore, { dataKeys });
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
    const drained = async () => {
      for (let i = 0; ; i++) {
        const { n } = await pool.one(sql.type(z.object({ n: z.number() }))`
          select count(*)::int8 as n from write.outbox where published_at is null`);
        if (n === 0) return;
        if (i > 1200) throw new Error('the outbox did not drain');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };

    // --- two tenants, users and an API key, with values distinctive enough to search for ------
    const mark = randomBytes(6).toString('hex');
    const [erasedTenant, keptTenant] = [randomUUID(), randomUUID()];
    const people = {
      ada: { userId: randomUUID(), tenantId: erasedTenant, email: `ada.lovelace.${mark}@erase.example` },
      grace: { userId: randomUUID(), tenantId: null, email: `grace.hopper.${mark}@erase.example` },
      kept: { userId: randomUUID(), tenantId: keptTenant, email: `kept.person.${mark}@erase.example` },
    };
    const tenantName = `Lovelace Analytical Engines ${mark}`;
    const apiKeyName = `ada-sync-${mark}`;
    const apiKey = generateApiKey();
    for (const [tenantId, name, slug] of [
      [erasedTenant, tenantName, `erased-${mark}`],
      [keptTenant, `Kept Tenant ${mark}`, `kept-${mark}`],
    ] as const) {
      await handler.handle(
        tenantAggregate,
        { type: 'ProvisionTenant', data: { tenantId, slug, name, plan: 'free' } },
        admin,
      );
    }
    const passwordHashes = new Map<string, string>();
    for (const person of Object.values(people)) {
      const passwordHash = await hashPassword(`pw-${person.userId}`);
      passwordHashes.set(person.userId, passwordHash);
      await handler.handle(
        userAggregate,
        {
          type: 'RegisterUser',
          data: {
            ...person,
            passwordHash,
            role: person.tenantId ? 'tenant_admin' : 'platform_admin',
          },
        },
        admin,
      );
    }
    await handler.handle(
      apiKeyAggregate,
      {
        type: 'IssueApiKey',
        data: {
          keyId: apiKey.keyId,
          tenantId: erasedTenant,
          name: apiKeyName,
          prefix: apiKey.prefix,
          secretHash: apiKey.secretHash,
          scopes: ['search'],
        },
      },
      admin,
    );
    const intakeKeyName = `ada-integration-${mark}`;
    await handler.handle(
      intakeKeyAggregate,
      {
        type: 'RegisterIntakeKey',
        data: {
          keyId: randomUUID(),
          tenantId: erasedTenant,
          name: intakeKeyName,
          publicKey: generateKeyPairSync('ed25519')
            .publicKey.export({ type: 'spki', format: 'pem' })
            .toString(),
        },
      },
      admin,
    );
    await drained();

    // A live metadata read model, fed from before the erasure with the writer's keys (no rebuild).
    const live = await createProjectionDatabase(t);
    const liveLog = {
      kafka,
      serde,
      topics: { tenant: named.tenant, identity: named.identity, image: named.image },
      list: [named.tenant, named.identity, named.image],
      groupPrefix: uniqueName('erasure-live'),
      producer,
    };
    const liveService = startProjectionService(projectionDefinitions.metadata!, {
      kafka,
      serde,
      deps: live.deps,
      databaseUrl: live.url,
      topics: liveLog.list,
      groupPrefix: liveLog.groupPrefix,
      log: live.log,
      pollIntervalMs: 200,
    });
    t.after(() => liveService.stop());
    await waitForCaughtUp(live.pool, liveLog, ['metadata'], 120_000);
    /** How many rows of any table of the live read-model database hold `needle`, per table. */
    const liveRowsHolding = async (needle: string): Promise<string[]> => {
      const tables = await live.pool.any(sql.type(z.object({ schema: z.string(), table: z.string() }))`
        select table_schema as schema, table_name as table from information_schema.tables
        where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema')`);
      const holding: string[] = [];
      for (const { schema, table } of tables) {
        const { n } = await live.pool.one(sql.type(z.object({ n: z.number() }))`
          select count(*)::int8 as n from ${sql.identifier([schema, table])} as r
          where strpos(r::text, ${needle}) > 0`);
        if (n > 0) holding.push(`${schema}.${table}`);
      }
      return holding;
    };
    const graceHash = passwordHashes.get(people.grace.userId)!;
    // Before: the live read model holds them in clear, so the scan below can see them.
    assert.ok((await liveRowsHolding(people.grace.email)).includes('platform.users'));
    assert.ok((await liveRowsHolding(graceHash)).includes('platform.users'));
    assert.ok((await liveRowsHolding(tenantName)).includes('platform.tenants'));

    const needles = [
      intakeKeyName,
      people.ada.email,
      people.grace.email,
      tenantName,
      apiKeyName,
      apiKey.secretHash,
      passwordHashes.get(people.ada.userId)!,
      passwordHashes.get(people.grace.userId)!,
    ];
    const eventTopics = Object.values(named);

    // Before erasure: sealed in Kafka, yet DeepLens's own reader opens it.
    const before = await readAll(kafka, eventTopics);
    const identity = before.filter((r) => r.topic === named.identity && r.value);
    const adaRecord = identity.find((r) => r.key === people.ada.userId);
    assert.ok(adaRecord?.value);
    const adaEvent = await serde.decodeEvent(adaRecord.value);
    assert.equal(adaEvent.type === 'UserRegistered' && adaEvent.data.email, people.ada.email);
    for (const record of before) {
      for (const needle of needles)
        assert.ok(!record.value?.includes(needle), `${needle} in clear in ${record.topic}`);
    }

    // --- erasure: one platform user by itself, one tenant through the eraser ------------------
    await eraseUserPersonalData(pool, dataKeys, handler, people.grace.userId);
    await eraseUserPersonalData(pool, dataKeys, handler, people.grace.userId); // a second time: a no-op
    await handler.handle(tenantAggregate, { type: 'DeleteTenant', data: { tenantId: erasedTenant } }, admin);
    const eraser = createTenantEraser({
      kafka,
      pool,
      handler: handler,
      serde,
      log: createLogger({ test: 'erasure' }, 'warn'),
      eraseObjects: () => Promise.resolve(),
      dataKeys,
    });
    await eraser.erase(erasedTenant, 'test');
    await drained();

    // --- the live read model (no rebuild): UserErased and TenantDeleted overwrote the copies ---
    const erasedEvents = await pool.any(sql.type(z.object({ aggregate_id: z.string() }))`
      select aggregate_id from write.outbox where event_type = 'UserErased'`);
    assert.deepEqual(erasedEvents, [{ aggregate_id: people.grace.userId }], 'one UserErased, for grace');
    await waitForCaughtUp(live.pool, liveLog, ['metadata'], 120_000);
    for (const needle of needles) {
      assert.deepEqual(await liveRowsHolding(needle), [], `${needle} still in the live read model`);
    }
    const liveGrace = await live.pool.one(sql.type(
      z.object({ email: z.string(), password_hash: z.string(), disabled: z.boolean() }),
    )`
      select email, password_hash, disabled from platform.users where user_id = ${people.grace.userId}`);
    assert.deepEqual(liveGrace, {
      email: erasedEmail(people.grace.userId),
      password_hash: '',
      disabled: true,
    });
    const liveTenant = await live.pool.one(sql.type(z.object({ name: z.string(), status: z.string() }))`
      select name, status from platform.tenants where tenant_id = ${erasedTenant}`);
    assert.deepEqual(liveTenant, { name: 'erased', status: 'deleted' });
    const liveKept = await live.pool.one(sql.type(z.object({ email: z.string() }))`
      select email from platform.users where user_id = ${people.kept.userId}`);
    assert.equal(liveKept.email, people.kept.email, 'a kept user still reads in clear in the live model');

    // --- a stock scan of every topic: raw bytes and registry + avsc decoding ------------------
    const after = await readAll(kafka, [...eventTopics, keyTopic]);
    assert.ok(after.filter((r) => r.topic !== keyTopic).length >= 10, 'the scan saw the events');
    for (const record of after) {
      const text = record.value ? await stockDecode(config.SCHEMA_REGISTRY_URL, record.value) : '';
      for (const needle of needles) {
        assert.ok(!record.value?.includes(needle), `${needle} in the bytes of a ${record.topic} record`);
        assert.ok(!text.includes(needle), `${needle} decodable from ${record.topic}`);
      }
    }
    // The erased subjects' keys end in tombstones; the kept tenant's key is still there.
    const latest = new Map(after.filter((r) => r.topic === keyTopic).map((r) => [r.key, r.value]));
    assert.equal(latest.get(userSubject(people.grace.userId)), null);
    assert.equal(latest.get(tenantSubject(erasedTenant)), null);
    assert.ok(latest.get(tenantSubject(keptTenant)));

    // --- PostgreSQL lost: a key cache rebuilt from the key topic alone ------------------------
    const fresh = await createTestDatabase(t);
    const rebuiltKeys = await startKafkaDataKeyStore({
      kafka,
      databaseUrl: fresh.url,
      masterKey,
      topic: keyTopic,
    });
    t.after(() => rebuiltKeys.stop());
    const reader = createEventSerde(schemaStore, { dataKeys: rebuiltKeys });

    // A full rebuild of the metadata projection from the log.
    const db = await createProjectionDatabase(t);
    const log = {
      kafka,
      serde: reader,
      topics: { tenant: named.tenant, identity: named.identity, image: named.image },
      list: [named.tenant, named.identity, named.image],
      groupPrefix: uniqueName('erasure-group'),
      producer,
    };
    const service = startProjectionService(projectionDefinitions.metadata!, {
      kafka,
      serde: reader,
      deps: db.deps,
      databaseUrl: db.url,
      topics: log.list,
      groupPrefix: log.groupPrefix,
      log: db.log,
      pollIntervalMs: 200,
    });
    t.after(() => service.stop());
    await waitForCaughtUp(db.pool, log, ['metadata'], 120_000);
    const users = await db.pool.any(sql.type(
      z.object({ user_id: z.string(), email: z.string(), password_hash: z.string() }),
    )`
      select user_id, email, password_hash from platform.users`);
    const byId = new Map(users.map((u) => [u.user_id, u]));
    assert.deepEqual(byId.get(people.grace.userId), {
      user_id: people.grace.userId,
      email: erasedEmail(people.grace.userId),
      password_hash: '',
    });
    assert.equal(byId.get(people.kept.userId)?.email, people.kept.email, 'a kept user still reads in clear');
    assert.equal(byId.get(people.ada.userId), undefined, 'the erased tenant’s users are gone');
    const tenantNames = await db.pool.any(sql.type(z.object({ tenant_id: z.string(), name: z.string() }))`
      select tenant_id, name from platform.tenants`);
    assert.deepEqual(
      new Map(tenantNames.map((r) => [r.tenant_id, r.name])),
      new Map([
        [erasedTenant, 'erased'],
        [keptTenant, `Kept Tenant ${mark}`],
      ]),
    );

    // recover --verify: the write model folded from the log (keys from the rebuilt cache) is the live one.
    const verified = await recoverWriteModel({
      kafka,
      serde: reader,
      databaseUrl: url,
      topicPrefix: prefix,
      mode: 'verify',
    });
    assert.deepEqual(verified.differences, []);
  });
});
