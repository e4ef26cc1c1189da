/** Starts the intake consumer process (records from event-producing integrations). */
import { topicsWithPrefix } from '@deeplens/events/topics';
import { createCommandHandler, writeModelMigrations } from '@deeplens/commands/commandHandler';
import { bootstrapProcess } from '@deeplens/events/processBootstrap';
import type { Config } from '@deeplens/platform/config';
import { createDatabasePool } from '@deeplens/platform/database';
import type { Logger } from '@deeplens/platform/logger';
import { createObjectStore } from '@deeplens/platform/objectStore';
import { tenantDecider } from '@deeplens/commands/tenant/tenantDecider';
import { secretBoxFor } from '@deeplens/platform/secrets';
import { createTenantStorageResolver } from '@deeplens/platform/tenantStorage';
import { createIntakeConsumer } from './intakeConsumer.ts';
import { registerIntakeSubject } from './intakeSubjects.ts';
import { createIntakeUploads } from './intakeUploads.ts';

/** How often unregistered uploads past their expiry are deleted. */
const sweepIntervalMs = 60_000;

export async function startIntake(config: Config, log: Logger): Promise<{ stop: () => Promise<void> }> {
  const { kafka, registry, serde } = await bootstrapProcess(config, {
    clientId: 'deeplens-intake',
    migrations: [{ component: 'write-model', directory: writeModelMigrations }],
  });
  const pool = await createDatabasePool(config);
  const objects = createObjectStore(config);
  const secrets = await secretBoxFor(config);
  // The tenant's own storage when it brought one, else its bucket in DeepLens's.
  const uploads = createIntakeUploads({
    pool,
    storageOf: createTenantStorageResolver(config, objects, secrets),
    maxPixels: config.IMAGE_MAX_PIXELS,
  });
  const handler = createCommandHandler({ pool });
  const named = topicsWithPrefix(config.KAFKA_TOPIC_PREFIX);
  const intakeTopic = named.intake;
  // The intake subject exists before any integration produces (see intakeSubjects.ts).
  await registerIntakeSubject(registry, config.SCHEMA_REGISTRY_URL, intakeTopic);
  const consumer = createIntakeConsumer({
    groupId: `${config.KAFKA_TOPIC_PREFIX}deeplens-intake`,
    topic: intakeTopic,
    deadLetterTopic: named.intakeDlq,
    kafka,
    pool,
    handler,
    serde,
    log,
    uploads,
  });
  await consumer.start();
  const sweeper = setInterval(() => {
    uploads
      .sweepExpired(async (tenantId) => {
        const tenant = await handler.load(tenantDecider, tenantId);
        return tenant.status === 'initial' ? undefined : tenant;
      }, log)
      .then((removed) => {
        if (removed > 0) log.info('expired uploads removed', { removed });
      })
      .catch((error: unknown) => log.warn('sweeping expired uploads failed', { error }));
  }, sweepIntervalMs);
  sweeper.unref();
  return {
    stop: async () => {
      clearInterval(sweeper);
      await consumer.stop();
      await pool.end();
    },
  };
}
