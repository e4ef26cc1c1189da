/** Starts the tenant eraser: finishes erasure after `TenantDeleted`. */
import { topicsWithPrefix } from '@deeplens/events/topics';
import { createCommandHandler, writeModelMigrations } from '@deeplens/commands/commandHandler';
import { createEventSerde, registrySchemaStore } from '@deeplens/events/eventSerde';
import { ensureInstallationTopics } from '@deeplens/events/ensureEventTopics';
import type { Config } from '@deeplens/platform/config';
import { createDatabasePool } from '@deeplens/platform/database';
import { createKafka } from '@deeplens/platform/kafka';
import type { Logger } from '@deeplens/platform/logger';
import { runMigrations } from '@deeplens/platform/migrations';
import { createObjectStore } from '@deeplens/platform/objectStore';
import { createSchemaRegistry } from '@deeplens/platform/schemaRegistry';
import { bucketEraser, createTenantEraser } from './tenantEraser.ts';
import { tenantBucket } from '@deeplens/platform/tenantStorage';

export async function startTenantEraser(config: Config, log: Logger): Promise<{ stop: () => Promise<void> }> {
  await runMigrations(config.DATABASE_URL, 'write-model', writeModelMigrations);
  const pool = await createDatabasePool(config);
  const kafka = createKafka(config, 'deeplens-tenant-eraser');
  await ensureInstallationTopics(kafka, config);
  const eraser = createTenantEraser({
    groupId: `${config.KAFKA_TOPIC_PREFIX}deeplens-tenant-eraser`,
    topic: topicsWithPrefix(config.KAFKA_TOPIC_PREFIX).tenant,
    kafka,
    pool,
    handler: createCommandHandler({ pool }),
    serde: createEventSerde(registrySchemaStore(createSchemaRegistry(config), config.SCHEMA_REGISTRY_URL)),
    log,
    eraseObjects: bucketEraser(createObjectStore(config), (tenantId) => tenantBucket(config, tenantId)),
  });
  await eraser.start();
  return {
    stop: async () => {
      await eraser.stop();
      await pool.end();
    },
  };
}
