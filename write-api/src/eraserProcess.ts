/** Starts the tenant eraser: finishes erasure after `TenantDeleted`. */
import { topicsWithPrefix } from '@deeplens/events/topics';
import { createCommandHandler, writeModelMigrations } from '@deeplens/commands/commandHandler';
import { bootstrapProcess } from '@deeplens/events/processBootstrap';
import type { Config } from '@deeplens/platform/config';
import { createDatabasePool } from '@deeplens/platform/database';
import type { Logger } from '@deeplens/platform/logger';
import { createObjectStore } from '@deeplens/platform/objectStore';
import { secretBoxFor } from '@deeplens/platform/secrets';
import { createTenantEraser, tenantObjectsEraser } from './tenantEraser.ts';

export async function startTenantEraser(config: Config, log: Logger): Promise<{ stop: () => Promise<void> }> {
  const { kafka, serde } = await bootstrapProcess(config, {
    clientId: 'deeplens-tenant-eraser',
    migrations: [{ component: 'write-model', directory: writeModelMigrations }],
  });
  const pool = await createDatabasePool(config);
  // Opens the credentials of storage a tenant brought, to erase what DeepLens put there.
  const secrets = await secretBoxFor(config);
  const eraser = createTenantEraser({
    groupId: `${config.KAFKA_TOPIC_PREFIX}deeplens-tenant-eraser`,
    topic: topicsWithPrefix(config.KAFKA_TOPIC_PREFIX).tenant,
    kafka,
    pool,
    handler: createCommandHandler({ pool }),
    serde,
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
