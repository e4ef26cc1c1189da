/** Starts the tenant eraser: finishes erasure after `TenantDeleted`. */
import { join } from 'node:path';
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
import { createSecretBox, loadSecretsKey } from '@deeplens/platform/secrets';
import { createTenantEraser, tenantObjectsEraser } from './tenantEraser.ts';

export async function startTenantEraser(config: Config, log: Logger): Promise<{ stop: () => Promise<void> }> {
  await runMigrations(config.DATABASE_URL, 'write-model', writeModelMigrations);
  const pool = await createDatabasePool(config);
  const kafka = createKafka(config, 'deeplens-tenant-eraser');
  await ensureInstallationTopics(kafka, config);
  // Opens the credentials of storage a tenant brought, to erase what DeepLens put there.
  const secrets = createSecretBox(
    await loadSecretsKey(
      config.SECRETS_KEY,
      join(config.SECRETS_DIR, 'secrets.key'),
      config.NODE_ENV === 'production',
    ),
  );
  const eraser = createTenantEraser({
    groupId: `${config.KAFKA_TOPIC_PREFIX}deeplens-tenant-eraser`,
    topic: topicsWithPrefix(config.KAFKA_TOPIC_PREFIX).tenant,
    kafka,
    pool,
    handler: createCommandHandler({ pool }),
    serde: createEventSerde(registrySchemaStore(createSchemaRegistry(config), config.SCHEMA_REGISTRY_URL)),
    log,
    eraseObjects: tenantObjectsEraser({ pool, config, defaultStore: createObjectStore(config), secrets }),
  });
  await eraser.start();
  return {
    stop: async () => {
      await eraser.stop();
      await pool.end();
    },
  };
}
