import assert from 'node:assert/strict';
import {
  createHash,
  createHmac,
  createPrivateKey,
  generateKeyPairSync,
  randomBytes,
  randomUUID,
  sign,
} from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it, type TestContext } from 'node:test';
import { z } from 'zod';
import { createCommandHandler } from '@deeplens/commands/commandHandler';
import { tenantDecider } from '@deeplens/commands/tenant/tenantDecider';
import { createWriteModelDatabase } from '@deeplens/commands/testing/writeModelDatabase';
import { apiKeyAggregate, intakeKeyAggregate, tenantAggregate } from '@deeplens/commands/writeModelRules';
import { decodeEvent, encodeIntakeEnvelope } from '@deeplens/events/eventCodec';
import { avroTypeOf, intakeEnvelopeSchema } from '@deeplens/events/eventSchemas';
import { createEventSerde, frame, registrySchemaStore } from '@deeplens/events/eventSerde';
import type { IntakeCommand } from '@deeplens/events/intakeRecords';
import { intakeHeaders } from '@deeplens/events/intakeRecords';
import { intakeEnvelopeToAvro } from '@deeplens/events/avroValues';
import { topicsWithPrefix } from '@deeplens/events/topics';
import { sql } from '@deeplens/platform/database';
import { NotFoundError } from '@deeplens/platform/errors';
import { deterministicUuid } from '@deeplens/platform/ids';
import { createKafka } from '@deeplens/platform/kafka';
import { createLogger } from '@deeplens/platform/logger';
import { fileSystemObjectStore, sha256Hex } from '@deeplens/platform/objectStore';
import { createSchemaRegistry } from '@deeplens/platform/schemaRegistry';
import { makeJpeg } from '@deeplens/platform/testing/hostileImages';
import { createSecretBox } from '@deeplens/platform/secrets';
import { createTenantStorageResolver } from '@deeplens/platform/tenantStorage';
import { createTestTopics, uniqueName } from '@deeplens/platform/testing/testTopics';
import { createIntakeConsumer } from './intakeConsumer.ts';
import { readIntakeOutcome } from '@deeplens/commands/intake/intakeOutcomes';
import { createIntakeUploads, uploadLifetimeMs } from './intakeUploads.ts';
import { createIntakeProducer, intakeRecordHeaders } from './intakeProducer.ts';
import { createOutboxRelay } from '@deeplens/commands/outbox/outboxRelay';

const admin = { actor: 'user:admin' } as const;

type Uploads = Parameters<typeof createIntakeConsumer>[0]['uploads'];

/** A tenant with an API key (whose hash is on the identity topic) and an intake key, a consumer, a producer. */
async function startIntake(
  t: TestContext,
  faults: { uploads?: (real: Uploads) => Uploads; maxAttempts?: number } = {},
) {
  const { pool, config } = await createWriteModelDatabase(t);
  const kafka = createKafka(config, 'intake-test');
  const topic = uniqueName('intake');
  const deadLetterTopic = `${topic}.dlq`;
  await createTestTopics(t, kafka, [
    { topic, partitions: 1 },
    { topic: deadLetterTopic, partitions: 1 },
  ]);
  const store = registrySchemaStore(createSchemaRegistry(config), config.SCHEMA_REGISTRY_URL);
  const serde = createEventSerde(store);
  const handler = createCommandHandler({ pool });
  const objects = fileSystemObjectStore(await mkdtemp(join(tmpdir(), 'intake-objects-')));
  let now = Date.now();
  const uploads = createIntakeUploads({
    pool,
    storageOf: createTenantStorageResolver(config, objects, createSecretBox(randomBytes(32))),
    maxPixels: config.IMAGE_MAX_PIXELS,
    clock: () => now,
  });

  const tenantId = randomUUID();
  await handler.handle(
    tenantAggregate,
    { type: 'ProvisionTenant', data: { tenantId, slug: `intake-${tenantId}`, name: 'Intake', plan: 'free' } },
    admin,
  );
  const apiKeySecret = `dl_intake01_${randomUUID()}`;
  await handler.handle(
    apiKeyAggregate,
    {
      type: 'IssueApiKey',
      data: {
        keyId: randomUUID(),
        tenantId,
        prefix: 'intake01',
        secretHash: sha256Hex(Buffer.from(apiKeySecret)),
        scopes: ['images:write'],
      },
    },
    admin,
  );
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const keyId = randomUUID();
  await handler.handle(
    intakeKeyAggregate,
    {
      type: 'RegisterIntakeKey',
      data: {
        keyId,
        tenantId,
        name: 'test integration',
        publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      },
    },
    admin,
  );

  const consumer = createIntakeConsumer({
    kafka,
    pool,
    handler,
    serde,
    log: createLogger({ test: 'intake' }, 'error'),
    uploads: faults.uploads ? faults.uploads(uploads) : uploads,
    topic,
    deadLetterTopic,
    groupId: uniqueName('intake-group'),
    ...(faults.maxAttempts ? { maxAttempts: faults.maxAttempts } : {}),
  });
  await consumer.start();
  t.after(() => consumer.stop());

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  t.after(() => producer.disconnect());

  const tenant = await handler.load(tenantDecider, tenantId);
  assert.ok(tenant.status === 'active');
  const upload = await uploads.put(tenant, await makeJpeg(64, 48));
  const register = (filename: string, attributes: Record<string, string> = {}): IntakeCommand => ({
    type: 'RegisterImage',
    data: {
      objectKey: upload.objectKey,
      sha256: upload.sha256,
      mime: upload.mime,
      bytes: upload.bytes,
      width: upload.width,
      height: upload.height,
      filename,
      tags: ['intake'],
      attributes,
    },
  });

  const integration = createIntakeProducer({
    producer,
    serde,
    tenantId,
    credentials: { keyId, privateKey },
    topic,
  });

  /** Sends a value as it is, with the given headers. */
  const sendRaw = (value: Buffer | null, headers: Record<string, string | Buffer>) =>
    producer.send({ topic, acks: -1, messages: [{ key: tenantId, value, headers }] });

  async function waitForRecords(count: number): Promise<void> {
    const deadline = Date.now() + 60_000;
    while (consumer.counts.accepted + consumer.counts.rejected < count && Date.now() < deadline)
      await sleep(100);
  }

  /** The images intake registered, as their `ImageUploaded` events say, by file name. */
  async function images() {
    const payloads = await pool.anyFirst(sql.type(z.object({ payload: z.instanceof(Buffer) }))`
      select payload from write.outbox where event_type = 'ImageUploaded'`);
    return payloads
      .map((p) => decodeEvent('ImageUploaded', p).data)
      .map(({ filename, attributes }) => ({ filename, attributes }))
      .sort((x, y) => x.filename.localeCompare(y.filename));
  }

  async function rejections() {
    const payloads = await pool.anyFirst(sql.type(z.object({ payload: z.instanceof(Buffer) }))`
      select payload from write.outbox where event_type = 'IntakeRejected' order by position`);
    return payloads.map((p) => decodeEvent('IntakeRejected', p).data);
  }

  return {
    pool,
    config,
    topic,
    deadLetterTopic,
    tenant,
    objects,
    uploads,
    upload,
    advanceClock: (ms: number) => (now += ms),
    kafka,
    store,
    serde,
    tenantId,
    keyId,
    privateKey,
    apiKeySecret,
    consumer,
    integration,
    register,
    sendRaw,
    waitForRecords,
    images,
    rejections,
  };
}

/** Every record on the given topics, read with a throw-away group from the beginning to the end. */
async function readWholeTopics(kafka: ReturnType<typeof createKafka>, names: string[]) {
  const kafkaAdmin = kafka.admin();
  await kafkaAdmin.connect();
  let expected = 0;
  for (const name of names)
    for (const p of await kafkaAdmin.fetchTopicOffsets(name)) expected += Number(p.high) - Number(p.low);
  await kafkaAdmin.disconnect();
  const records: { key: Buffer | null; value: Buffer; headers: Buffer[] }[] = [];
  const consumer = kafka.consumer({ groupId: uniqueName('forgery-reader'), maxWaitTimeInMs: 200 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: names, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${records.length} of ${expected}`)), 30_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          const headers = Object.values(message.headers ?? {})
            .flat()
            .filter((h): h is Buffer | string => h !== undefined)
            .map((h) => (Buffer.isBuffer(h) ? h : Buffer.from(h)));
          records.push({ key: message.key, value: message.value!, headers });
          if (records.length >= expected) {
            clearTimeout(timer);
            resolve();
          }
          return Promise.resolve();
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return records;
}

/** Every string, byte string and number inside a decoded value. */
function leaves(value: unknown, into: Buffer[] = []): Buffer[] {
  if (typeof value === 'string') into.push(Buffer.from(value, 'utf8'));
  else if (typeof value === 'number' || typeof value === 'bigint') into.push(Buffer.from(String(value)));
  else if (Buffer.isBuffer(value)) into.push(value);
  else if (value instanceof Float32Array) into.push(Buffer.from(value.buffer));
  else if (Array.isArray(value)) for (const item of value) leaves(item, into);
  else if (typeof value === 'object' && value !== null)
    for (const item of Object.values(value)) leaves(item, into);
  return into;
}

/** What anyone could try as key material, given one value from the log. */
function keyMaterials(value: Buffer): Buffer[] {
  const text = value.toString('utf8');
  const materials = [value, createHash('sha256').update(value).digest()];
  materials.push(Buffer.from(createHash('sha256').update(value).digest('hex')));
  if (/^[0-9a-f]+$/i.test(text) && text.length % 2 === 0) materials.push(Buffer.from(text, 'hex'));
  if (/^[A-Za-z0-9+/_-]+=*$/.test(text)) materials.push(Buffer.from(text, 'base64'));
  return materials;
}

/** Signatures one could make of `payload` from `material`: the old HMAC, Ed25519 seeded with it, itself. */
function forgedSignatures(material: Buffer, payload: Buffer): Buffer[] {
  const signatures: Buffer[] = [createHmac('sha256', material).update(payload).digest()];
  const seed = material.length === 32 ? material : createHash('sha256').update(material).digest();
  const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
  const seeded = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
  signatures.push(sign(null, payload, seeded));
  if (material.length === 64) signatures.push(material);
  return signatures;
}

describe('intake consumer', () => {
  it('applies signed records, rejects malformed and unauthorised ones with a reason, and carries on', async (t) => {
    const intake = await startIntake(t);
    await intake.integration.submit('req-1', intake.register('first.jpg'));
    await intake.sendRaw(Buffer.from('not avro at all'), {});
    const unsigned = await intake.serde.encodeIntakeEnvelope(
      encodeIntakeEnvelope({
        requestId: 'req-2',
        tenantId: intake.tenantId,
        command: intake.register('x.jpg'),
      }),
    );
    // Signed by a key pair DeepLens never saw, under the registered key's id.
    await intake.sendRaw(
      unsigned,
      intakeRecordHeaders(unsigned, {
        keyId: intake.keyId,
        privateKey: generateKeyPairSync('ed25519').privateKey,
      }) as Record<string, Buffer>,
    );
    await intake.integration.submit('req-3', {
      type: 'RegisterImage',
      data: {
        ...(intake.register('missing.jpg').data as object),
        objectKey: 'images/00/nothing-here',
      } as never,
    });
    await intake.integration.submit('req-4', intake.register('second.jpg'));
    await intake.integration.submit('req-1', intake.register('first.jpg')); // a resubmission changes nothing
    await intake.waitForRecords(6);

    assert.deepEqual(
      (await intake.images()).map((i) => i.filename),
      ['first.jpg', 'second.jpg'],
      'req-1 once and req-4; the forged and broken records wrote nothing',
    );
    assert.deepEqual(intake.consumer.counts, { accepted: 3, rejected: 3 });
    const rejections = await intake.rejections();
    assert.deepEqual(
      rejections.map((r) => [r.requestId, r.tenantId, r.code]),
      [
        [null, intake.tenantId, 'validation_failed'],
        [null, intake.tenantId, 'unauthenticated'],
        ['req-3', intake.tenantId, 'validation_failed'],
      ],
      'a non-Avro record is filed under the tenant its key names; a forged one is refused before decoding',
    );
    assert.match(rejections[0]!.reason, /magic byte/);
    assert.match(rejections[2]!.reason, /no upload images\/00\/nothing-here of this tenant/);
    const keys = await intake.pool.manyFirst(sql.type(z.object({ message_key: z.string() }))`
      select message_key from write.outbox where event_type = 'IntakeRejected'`);
    assert.deepEqual(new Set(keys), new Set([intake.tenantId]), 'rejections are keyed by tenant');

    const outcome = (requestId: string, tenantId = intake.tenantId) =>
      readIntakeOutcome(intake.pool, tenantId, requestId);
    assert.deepEqual(
      { ...(await outcome('req-1')), updatedAt: undefined },
      {
        requestId: 'req-1',
        status: 'accepted',
        command: 'RegisterImage',
        imageId: deterministicUuid('intake-image', intake.tenantId, 'req-1'),
        updatedAt: undefined,
      },
    );
    assert.deepEqual(
      { ...(await outcome('req-3')), updatedAt: undefined },
      {
        requestId: 'req-3',
        status: 'rejected',
        code: 'validation_failed',
        reason: rejections[2]!.reason,
        updatedAt: undefined,
      },
    );
    assert.deepEqual(await outcome('req-never-sent'), { requestId: 'req-never-sent', status: 'pending' });
    await assert.rejects(
      outcome('req-1', randomUUID()),
      NotFoundError,
      "another tenant's request is not found",
    );
  });

  it('registers only uploaded objects, as they really are, and not after they expire', async (t) => {
    const intake = await startIntake(t);
    const claims = intake.register('claims.jpg').data as Record<string, unknown>;
    const lie = (requestId: string, changes: Record<string, unknown>) =>
      intake.integration.submit(requestId, {
        type: 'RegisterImage',
        data: { ...claims, ...changes } as never,
      });
    await lie('wrong-hash', { sha256: 'a'.repeat(64) });
    await lie('wrong-size', { width: 4000, height: 3000, bytes: 1 });
    await lie('wrong-type', { mime: 'image/png' });
    await intake.waitForRecords(3);
    const late = await intake.uploads.put(intake.tenant, await makeJpeg(32, 32, 7));
    intake.advanceClock(uploadLifetimeMs + 1);
    await lie('expired', {
      objectKey: late.objectKey,
      sha256: late.sha256,
      bytes: late.bytes,
      width: late.width,
      height: late.height,
    });
    await intake.waitForRecords(4);
    const reasons: Record<string, string> = Object.fromEntries(
      (await intake.rejections()).map((r) => [r.requestId ?? '', r.reason]),
    );
    assert.match(reasons['wrong-hash'] ?? '', /sha256 is [0-9a-f]{64}, not a{64}/);
    assert.match(
      reasons['wrong-size'] ?? '',
      /bytes is \d+, not 1; width is 64, not 4000; height is 48, not 3000/,
    );
    assert.match(reasons['wrong-type'] ?? '', /mime is image\/jpeg, not image\/png/);
    assert.match(reasons.expired ?? '', /expired before it was registered/);
    assert.deepEqual(await intake.images(), []);

    // The sweep deletes the expired upload's object; the registered one would have stayed.
    const storage = createTenantStorageResolver(
      intake.config,
      intake.objects,
      createSecretBox(randomBytes(32)),
    )(intake.tenant);
    assert.ok(await storage.store.stat(storage.bucket, late.objectKey));
    const removed = await intake.uploads.sweepExpired(async () => intake.tenant);
    assert.equal(removed, 2, 'both uploads expired unregistered');
    assert.equal(await storage.store.stat(storage.bucket, late.objectKey), undefined);
  });

  it('refuses a record signed with any value readable from the identity and tenant topics', async (t) => {
    const intake = await startIntake(t);
    // Publish the write model's events as the relay does, to topics of this test's own.
    const prefix = `${uniqueName('forgery')}.`;
    const published = topicsWithPrefix(prefix);
    await createTestTopics(
      t,
      intake.kafka,
      Object.values(published).map((topic) => ({ topic, partitions: 2 })),
    );
    const producer = intake.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    t.after(() => producer.disconnect());
    const relay = createOutboxRelay({
      databaseUrl: intake.config.DATABASE_URL,
      producer,
      serde: intake.serde,
      topicPrefix: prefix,
      pollIntervalMs: 100,
    });
    relay.start();
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const left = await intake.pool.oneFirst(sql.type(z.object({ n: z.number() }))`
        select count(*)::int as n from write.outbox where published_at is null`);
      if (left === 0) break;
      await sleep(100);
    }
    await relay.stop();

    const records = await readWholeTopics(intake.kafka, [published.identity, published.tenant]);
    const events = await Promise.all(records.map((r) => intake.serde.decodeEvent(r.value)));
    assert.deepEqual(
      events.map((e) => e.type).sort(),
      ['ApiKeyIssued', 'IntakeKeyRegistered', 'TenantProvisioned'],
      'the log holds the API key, the intake key and the tenant',
    );
    const values = new Map<string, Buffer>();
    for (const [i, record] of records.entries()) {
      for (const value of [
        record.value,
        ...(record.key ? [record.key] : []),
        ...record.headers,
        ...leaves(events[i]),
      ])
        values.set(value.toString('base64'), value);
    }
    const secretHash = (events.find((e) => e.type === 'ApiKeyIssued')!.data as { secretHash: string })
      .secretHash;
    assert.ok(
      values.has(Buffer.from(secretHash).toString('base64')),
      'the old HMAC key is among the values tried',
    );

    const value = await intake.serde.encodeIntakeEnvelope(
      encodeIntakeEnvelope({
        requestId: 'forged',
        tenantId: intake.tenantId,
        command: intake.register('forged.jpg'),
      }),
    );
    const signatures = new Map<string, Buffer>();
    for (const candidate of values.values())
      for (const material of keyMaterials(candidate))
        for (const signature of forgedSignatures(material, value.subarray(1)))
          signatures.set(signature.toString('base64'), signature);
    for (const signature of signatures.values())
      await intake.sendRaw(value, {
        [intakeHeaders.keyId]: intake.keyId,
        [intakeHeaders.signature]: signature,
      });
    await intake.integration.submit('genuine', intake.register('genuine.jpg'));
    await intake.waitForRecords(signatures.size + 1);

    t.diagnostic(
      `${signatures.size} forged signatures from ${values.size} values of ${records.length} records`,
    );
    assert.ok(signatures.size > 100, `${signatures.size} forgeries tried from ${values.size} values`);
    assert.deepEqual(intake.consumer.counts, { accepted: 1, rejected: signatures.size });
    assert.deepEqual(
      new Set((await intake.rejections()).map((r) => r.code)),
      new Set(['unauthenticated']),
      'every forgery is refused as unauthenticated',
    );
    assert.deepEqual(
      (await intake.images()).map((i) => i.filename),
      ['genuine.jpg'],
      'only the record signed with the private key registered an image',
    );
  });

  it('dead-letters a record whose handling fails for no reason of its own, gives one whose storage stays down back to Kafka, and rejects one without a value', async (t) => {
    let storageFailures = 0;
    const intake = await startIntake(t, {
      maxAttempts: 2,
      uploads: (real) => ({
        registered: (tenantId, objectKey) => real.registered(tenantId, objectKey),
        verify: async (tenant, record) => {
          if (record.filename === 'poison.jpg') throw new TypeError('a bug met this record');
          // The tenant's storage is down for more attempts than one delivery makes.
          if (record.filename === 'flaky.jpg' && storageFailures++ < 5)
            throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
          return real.verify(tenant, record);
        },
      }),
    });
    await intake.integration.submit('poison', intake.register('poison.jpg'));
    await intake.sendRaw(null, {});
    await intake.integration.submit('flaky', intake.register('flaky.jpg'));
    await intake.integration.submit('after', intake.register('after.jpg'));
    await intake.waitForRecords(3);

    assert.deepEqual(
      (await intake.images()).map((i) => i.filename),
      ['after.jpg', 'flaky.jpg'],
      'the records after the poison one are applied; the one whose storage was down too',
    );
    assert.ok(storageFailures > 2, `redelivered after its ${storageFailures} failed attempts`);
    assert.deepEqual(intake.consumer.counts, { accepted: 2, rejected: 1 });
    const rejections = await intake.rejections();
    assert.deepEqual(
      rejections.map((r) => [r.requestId, r.tenantId, r.code, r.offset]),
      [[null, intake.tenantId, 'validation_failed', 1]],
      'a record without a value is rejected like any malformed one',
    );
    assert.match(rejections[0]!.reason, /has no value/);
    assert.deepEqual(await readIntakeOutcome(intake.pool, intake.tenantId, 'poison'), {
      requestId: 'poison',
      status: 'pending',
    });

    const dead = await readWholeTopics(intake.kafka, [intake.deadLetterTopic]);
    assert.equal(dead.length, 1, 'only the poison record is dead-lettered');
    const headers = dead[0]!.headers.map((h) => h.toString());
    assert.ok(
      headers.some((h) => /TypeError: a bug met this record/.test(h)),
      'with its reason',
    );
    assert.ok(headers.includes(`${intake.topic}:0:0`), 'and where it came from');
    assert.ok(headers.includes(intake.keyId), 'the original headers are kept');
  });

  it('verifies the bytes sent: a map in the producer’s key order, older and newer writer schemas', async (t) => {
    const intake = await startIntake(t);
    const keyed = (value: Buffer) =>
      intakeRecordHeaders(value, { keyId: intake.keyId, privateKey: intake.privateKey }) as Record<
        string,
        Buffer
      >;

    // As Python or Java write {"camera": "X100V", "2024": "yes"}: in insertion order, one block.
    // (JavaScript would put the integer-like key first; the server must not re-encode.)
    const withoutAttributes = encodeIntakeEnvelope({
      requestId: 'ordered-map',
      tenantId: intake.tenantId,
      command: intake.register('ordered.jpg'),
    });
    assert.equal(withoutAttributes.at(-1), 0, 'the empty attributes map ends the record');
    const string = (s: string) => Buffer.concat([zigzag(Buffer.byteLength(s)), Buffer.from(s)]);
    const ordered = Buffer.concat([
      withoutAttributes.subarray(0, -1),
      zigzag(2),
      string('camera'),
      string('X100V'),
      string('2024'),
      string('yes'),
      Buffer.from([0]),
    ]);
    const schemaId = (await intake.serde.encodeIntakeEnvelope(Buffer.alloc(0))).readUInt32BE(1);
    const orderedValue = frame(schemaId, ordered);
    await intake.sendRaw(orderedValue, keyed(orderedValue));

    // Writer schemas a producer may hold: an older one (no tags, no attributes) and a newer
    // one (an extra field with a default). Registered under subjects of this test's own; the
    // schema id in the record is all the consumer needs.
    const older = structuredClone(intakeEnvelopeSchema.schema) as EnvelopeSchema;
    const olderRegister = registerImageSchema(older);
    olderRegister.fields = olderRegister.fields.filter((f) => f.name !== 'tags' && f.name !== 'attributes');
    const newer = structuredClone(intakeEnvelopeSchema.schema) as EnvelopeSchema;
    registerImageSchema(newer).fields.push({ name: 'camera', type: 'string', default: '' });
    for (const [name, schema, extra] of [
      ['older-writer', older, {}],
      ['newer-writer', newer, { camera: 'X100V' }],
    ] as const) {
      const subject = uniqueName(`intake-writer-${name}`);
      t.after(() =>
        fetch(`${intake.config.SCHEMA_REGISTRY_URL}/subjects/${encodeURIComponent(subject)}`, {
          method: 'DELETE',
        }),
      );
      const id = await intake.store.register(subject, schema);
      const command = intake.register(`${name}.jpg`);
      const avro = intakeEnvelopeToAvro({ requestId: name, tenantId: intake.tenantId, command });
      const branch = avro.command as Record<string, Record<string, unknown>>;
      for (const data of Object.values(branch)) Object.assign(data, extra);
      const value = frame(id, avroTypeOf(schema).toBuffer(avro));
      await intake.sendRaw(value, keyed(value));
    }
    await intake.waitForRecords(3);

    assert.deepEqual(await intake.rejections(), []);
    assert.deepEqual(await intake.images(), [
      { filename: 'newer-writer.jpg', attributes: {} },
      { filename: 'older-writer.jpg', attributes: {} },
      { filename: 'ordered.jpg', attributes: { camera: 'X100V', 2024: 'yes' } },
    ]);
  });
});

type EnvelopeSchema = {
  fields: { name: string; type: unknown }[];
};
type RecordSchemaJson = { name: string; fields: { name: string; type: unknown; default?: unknown }[] };

function registerImageSchema(envelope: EnvelopeSchema): RecordSchemaJson {
  const command = envelope.fields.find((f) => f.name === 'command')!;
  return (command.type as RecordSchemaJson[]).find((branch) => branch.name === 'RegisterImage')!;
}

/** Avro's zig-zag varint of a small non-negative number. */
function zigzag(n: number): Buffer {
  const bytes: number[] = [];
  let v = n * 2;
  while (v > 0x7f) {
    bytes.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  bytes.push(v);
  return Buffer.from(bytes);
}
