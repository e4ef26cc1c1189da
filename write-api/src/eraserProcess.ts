/** Starts the tenant eraser: finishes erasure after `TenantDeleted`, and releases a deleted image's bytes. */
import { topicsWithPrefix } from '@deeplens/events/topics';
import { createCommandHandler, writeModelMigrations } from '@deeplens/commands/commandHandler';
import { bootstrapProcess } from '@deeplens/events/processBootstrap';
import type { Config } from '@deeplens/platform/config';
import { createDatabasePool } from '@deeplens/platform/database';
import type { Logger } from '@deeplens/platform/logger';
import { createObjectStore } from '@deeplens/platform/objectStore';
import { secretBoxFor } from '@deeplens/platform/secrets';
import { createTenantStorageResolver } from '@deeplens/platform/tenantStorage';
import { createImageBytesReleaser } from './imageBytesRelease.ts';
import { createTenantEraser, tenantObjectsEraser } from './tenantEraser.ts';

export async function startTenantEraser(config: Config, log: Logger): Promise<{ stop: () => Promise<void> }> {
  const { kafka, serde } = await bootstrapProcess(config, {
    clientId: 'deeplens-tenant-eraser',
    migrations: [{ component: 'write-model', directory: writeModelMigrations }],
  });
  const pool = await createDatabasePool(config);
  // Opens the credentials of storage a tenant brought, to erase what DeepLens put there.
  const secrets = await secretBoxFor(config);
  const named = topicsWithPrefix(config.KAFKA_TOPIC_PREFIX);
  const handler = createCommandHandler({ pool });
  const objects = createObjectStore(config);
  const eraser = createTenantEraser({
    groupId: `${config.KAFKA_TOPIC_PREFIX}deeplens-tenant-eraser`,
    topic: named.tenant,
    kafka,
    pool,
    handler,
    serde,
    log,
    eraseObjects: tenantObjectsEraser({ pool, config, defaultStore: objects, secrets }),
  });
  // A deleted image's bytes go too, unless another image of the tenant has the same bytes.
  const releaser = createImageBytesReleaser({
    groupId: `${config.KAFKA_TOPIC_PREFIX}deeplens-image-bytes-releaser`,
    topic: named.image,
    kafka,
    pool,
    handler,
    serde,
    log,
    storageOf: createTenantStorageResolver(config, objects, secrets),
  });
  await eraser.start();
  await releaser.start();
  return {
    stop: async () => {
      await releaser.stop();
      await eraser.stop();
      await pool.end();
    },
  };
}
