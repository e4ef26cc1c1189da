import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { createCommandHandler } from '@deeplens/commands/commandHandler';
import { apiKeyDecider } from '@deeplens/commands/identity/apiKeyDecider';
import { tenantDecider } from '@deeplens/commands/tenant/tenantDecider';
import { createWriteModelDatabase } from '@deeplens/commands/testing/writeModelDatabase';
import { apiKeyRules, tenantRules } from '@deeplens/commands/writeModelRules';
import { decodeEvent } from '@deeplens/events/eventCodec';
import { createEventSerde, registrySchemaStore } from '@deeplens/events/eventSerde';
import type { IntakeCommand } from '@deeplens/events/intakeRecords';
import { sql } from '@deeplens/platform/database';
import { createKafka } from '@deeplens/platform/kafka';
import { createLogger } from '@deeplens/platform/logger';
import { fileSystemObjectStore, sha256Hex } from '@deeplens/platform/objectStore';
import { createSchemaRegistry } from '@deeplens/platform/schemaRegistry';
import { createTestTopics, uniqueName } from '@deeplens/platform/testing/testTopics';
import { createIntakeConsumer } from './intakeConsumer.ts';
import { createIntakeProducer } from './intakeProducer.ts';

describe('intake consumer', () => {
  it('applies signed records, rejects malformed and unauthorised ones with a reason, and carries on', async (t) => {
    const { pool, config } = await createWriteModelDatabase(t);
    const kafka = createKafka(config, 'intake-test');
    const topic = uniqueName('intake');
    await createTestTopics(t, kafka, [{ topic, partitions: 1 }]);
    const serde = createEventSerde(
      registrySchemaStore(createSchemaRegistry(config), config.SCHEMA_REGISTRY_URL),
    );
    const handler = createCommandHandler({ pool });
    const objects = fileSystemObjectStore(await mkdtemp(join(tmpdir(), 'intake-objects-')));

    const tenantId = randomUUID();
    const admin = { actor: 'user:admin' } as const;
    await handler.handle(
      tenantDecider,
      {
        type: 'ProvisionTenant',
        data: { tenantId, slug: `intake-${tenantId}`, name: 'Intake', plan: 'free' },
      },
      admin,
      tenantRules,
    );
    const secret = `dl_intake01_${randomUUID()}`;
    const keyId = randomUUID();
    await handler.handle(
      apiKeyDecider,
      {
        type: 'IssueApiKey',
        data: {
          keyId,
          tenantId,
          prefix: 'intake01',
          secretHash: sha256Hex(Buffer.from(secret)),
          scopes: ['images:write'],
        },
      },
      admin,
      apiKeyRules,
    );

    const consumer = createIntakeConsumer({
      kafka,
      pool,
      handler,
      serde,
      log: createLogger({ test: 'intake' }, 'error'),
      objectExists: async (tenant, key) => (await objects.stat(tenant, key)) !== undefined,
      topic,
      groupId: uniqueName('intake-group'),
    });
    await consumer.start();
    t.after(() => consumer.stop());

    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    t.after(() => producer.disconnect());
    const integration = createIntakeProducer({
      producer,
      serde,
      tenantId,
      credentials: { keyId, secret },
      topic,
    });
    const forger = createIntakeProducer({
      producer,
      serde,
      tenantId,
      credentials: { keyId, secret: 'dl_intake01_guessed' },
      topic,
    });

    const bytes = Buffer.from('pretend these are JPEG bytes');
    const objectKey = `objects/${sha256Hex(bytes)}`;
    await objects.ensureBucket(tenantId);
    await objects.put(tenantId, objectKey, bytes, 'image/jpeg');
    const register = (filename: string): IntakeCommand => ({
      type: 'RegisterImage',
      data: {
        objectKey,
        sha256: sha256Hex(bytes),
        mime: 'image/jpeg',
        bytes: bytes.length,
        width: 4,
        height: 3,
        filename,
        tags: ['intake'],
        attributes: {},
      },
    });

    await integration.submit('req-1', register('first.jpg'));
    await producer.send({ topic, messages: [{ key: tenantId, value: Buffer.from('not avro at all') }] });
    await forger.submit('req-2', register('forged.jpg'));
    await integration.submit('req-3', {
      type: 'RegisterImage',
      data: { ...(register('missing.jpg').data as object), objectKey: 'objects/nothing-here' } as never,
    });
    await integration.submit('req-4', register('second.jpg'));
    await integration.submit('req-1', register('first.jpg')); // a resubmission changes nothing

    const deadline = Date.now() + 60_000;
    while (consumer.counts.accepted + consumer.counts.rejected < 6 && Date.now() < deadline) await sleep(100);

    const images = await pool.many(sql.type(z.object({ filename: z.string() }))`
      select state->>'objectKey' as filename from write.aggregates where aggregate_type = 'image'`);
    assert.equal(images.length, 2, 'req-1 once and req-4; the forged and broken records wrote nothing');

    assert.deepEqual(consumer.counts, { accepted: 3, rejected: 3 });
    const payloads = await pool.manyFirst(sql.type(z.object({ payload: z.instanceof(Buffer) }))`
      select payload from write.outbox where event_type = 'IntakeRejected' order by position`);
    const rejections = payloads.map((p) => decodeEvent('IntakeRejected', p).data);
    assert.deepEqual(
      rejections.map((r) => [r.requestId, r.code]),
      [
        [null, 'validation_failed'],
        ['req-2', 'unauthenticated'],
        ['req-3', 'validation_failed'],
      ],
    );
    assert.match(rejections[0]!.reason, /magic byte/);
    assert.match(rejections[2]!.reason, /no object objects\/nothing-here/);
  });
});
