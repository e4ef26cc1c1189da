/** Starts the intake consumer process (records from event-producing integrations). */
import { topicsWithPrefix } from '@deeplens/events/topics';
import { createCommandHandler, writeModelMigrations } from '@deeplens/commands/commandHandler';
import { createEventSerde, registrySchemaStore } from '@deeplens/events/eventSerde';
import { ensureEventTopics } from '@deeplens/events/ensureEventTopics';
import type { Config } from '@deeplens/platform/config';
import { createDatabasePool } from '@deeplens/platform/database';
import { createKafka } from '@deeplens/platform/kafka';
import type { Logger } from '@deeplens/platform/logger';
import { runMigrations } from '@deeplens/platform/migrations';
import { createObjectStore } from '@deeplens/platform/objectStore';
import { createSchemaRegistry } from '@deeplens/platform/schemaRegistry';
import { tenantBucket } from '@deeplens/platform/tenantStorage';
import { createIntakeConsumer } from './intakeConsumer.ts';

export async function startIntake(config: Config, log: Logger): Promise<{ stop: () => Promise<void> }> {
  await runMigrations(config.DATABASE_URL, 'write-model', writeModelMigrations);
  const pool = await createDatabasePool(config);
  const kafka = createKafka(config, 'deeplens-intake');
  const admin = kafka.admin();
  await admin.connect();
  await ensureEventTopics(admin, config.KAFKA_TOPIC_PARTITIONS, config.KAFKA_TOPIC_PREFIX);
  await admin.disconnect();
  const objects = createObjectStore(config);
  const consumer = createIntakeConsumer({
    groupId: `${config.KAFKA_TOPIC_PREFIX}deeplens-intake`,
    topic: topicsWithPrefix(config.KAFKA_TOPIC_PREFIX).intake,
    kafka,
    pool,
    handler: createCommandHandler({ pool }),
    serde: createEventSerde(registrySchemaStore(createSchemaRegistry(config), config.SCHEMA_REGISTRY_URL)),
    log,
    objectExists: async (tenantId, key) =>
      (await objects.stat(tenantBucket(config, tenantId), key)) !== undefined,
  });
  await consumer.start();
  return {
    stop: async () => {
      await consumer.stop();
      await pool.end();
    },
  };
}
