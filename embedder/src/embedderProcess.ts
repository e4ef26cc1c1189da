/** Starts the embedder process. */
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
import { createTenantStorageResolver } from '@deeplens/platform/tenantStorage';
import { join } from 'node:path';
import { createEmbedderWorker } from './embedderWorker.ts';
import { chooseEmbeddingManifest } from './embeddingSpaceChoice.ts';
import { loadEmbeddingModel } from './onnxEmbeddingModel.ts';

export async function startEmbedder(config: Config, log: Logger): Promise<{ stop: () => Promise<void> }> {
  await runMigrations(config.DATABASE_URL, 'write-model', writeModelMigrations);
  const pool = await createDatabasePool(config);
  const manifest = await chooseEmbeddingManifest(config.EMBEDDER_MODEL_MANIFEST, pool).catch(
    async (error: unknown) => {
      await pool.end();
      throw error;
    },
  );
  const model = await loadEmbeddingModel(manifest, {
    maxBatchSize: config.EMBEDDER_BATCH_SIZE,
    maxInputPixels: config.IMAGE_MAX_PIXELS,
    ...(config.EMBEDDER_INTRA_OP_THREADS ? { intraOpThreads: config.EMBEDDER_INTRA_OP_THREADS } : {}),
  });
  log.info('model loaded', {
    modelId: manifest.modelId,
    modelVersion: manifest.modelVersion,
    dimension: model.dimension,
    embeddingSpace: model.embeddingSpace,
  });
  const kafka = createKafka(config, 'deeplens-embedder');
  await ensureInstallationTopics(kafka, config);
  const secrets = createSecretBox(
    await loadSecretsKey(
      config.SECRETS_KEY,
      join(config.SECRETS_DIR, 'secrets.key'),
      config.NODE_ENV === 'production',
    ),
  );
  const worker = createEmbedderWorker({
    groupId: `${config.KAFKA_TOPIC_PREFIX}deeplens-embedder-${manifest.modelId}@${manifest.modelVersion}`,
    topic: topicsWithPrefix(config.KAFKA_TOPIC_PREFIX).image,
    dlqTopic: topicsWithPrefix(config.KAFKA_TOPIC_PREFIX).embedderDlq,
    kafka,
    serde: createEventSerde(registrySchemaStore(createSchemaRegistry(config), config.SCHEMA_REGISTRY_URL)),
    handler: createCommandHandler({ pool }),
    model,
    storageOf: createTenantStorageResolver(config, createObjectStore(config), secrets),
    log,
    batchSize: config.EMBEDDER_BATCH_SIZE,
    batchWindowMs: config.EMBEDDER_BATCH_WINDOW_MS,
    maxAttempts: config.EMBEDDER_MAX_ATTEMPTS,
    thumbnailSize: config.THUMBNAIL_MAX_SIZE,
  });
  await worker.start();
  return {
    stop: async () => {
      await worker.stop();
      await model.close();
      await pool.end();
    },
  };
}
