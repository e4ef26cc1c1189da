/** Starts the intake consumer process (records from event-producing integrations). */
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
import { join } from 'node:path';
import { tenantDecider } from '@deeplens/commands/tenant/tenantDecider';
import { createSecretBox, loadSecretsKey } from '@deeplens/platform/secrets';
import { createTenantStorageResolver } from '@deeplens/platform/tenantStorage';
import { createIntakeConsumer } from './intakeConsumer.ts';
import { registerIntakeSubject } from './intakeSubjects.ts';
import { createIntakeUploads } from './intakeUploads.ts';

/** How often unregistered uploads past their expiry are deleted. */
const sweepIntervalMs = 60_000;

export async function startIntake(config: Config, log: Logger): Promise<{ stop: () => Promise<void> }> {
  await runMigrations(config.DATABASE_URL, 'write-model', writeModelMigrations);
  const pool = await createDatabasePool(config);
  const kafka = createKafka(config, 'deeplens-intake');
  await ensureInstallationTopics(kafka, config);
  const objects = createObjectStore(config);
  const secrets = createSecretBox(
    await loadSecretsKey(
      config.SECRETS_KEY,
      join(config.SECRETS_DIR, 'secrets.key'),
      config.NODE_ENV === 'production',
    ),
  );
  // The tenant's own storage when it brought one, else its bucket in DeepLens's.
  const uploads = createIntakeUploads({
    pool,
    storageOf: createTenantStorageResolver(config, objects, secrets),
    maxPixels: config.IMAGE_MAX_PIXELS,
  });
  const handler = createCommandHandler({ pool });
  const registry = createSchemaRegistry(config);
  const store = registrySchemaStore(registry, config.SCHEMA_REGISTRY_URL);
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
    serde: createEventSerde(store),
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
