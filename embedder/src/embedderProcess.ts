/** Starts the embedder process. */
import { topicsWithPrefix } from '@deeplens/events/topics';
import { createCommandHandler, writeModelMigrations } from '@deeplens/commands/commandHandler';
import { bootstrapProcess } from '@deeplens/events/processBootstrap';
import type { Config } from '@deeplens/platform/config';
import { createDatabasePool } from '@deeplens/platform/database';
import type { Logger } from '@deeplens/platform/logger';
import { createObjectStore } from '@deeplens/platform/objectStore';
import { secretBoxFor } from '@deeplens/platform/secrets';
import { createTenantStorageResolver } from '@deeplens/platform/tenantStorage';
import { createEmbedderWorker } from './embedderWorker.ts';
import { chooseEmbeddingManifest } from './embeddingSpaceChoice.ts';
import { loadEmbeddingModel } from './onnxEmbeddingModel.ts';

export async function startEmbedder(config: Config, log: Logger): Promise<{ stop: () => Promise<void> }> {
  const { kafka, serde } = await bootstrapProcess(config, {
    clientId: 'deeplens-embedder',
    migrations: [{ component: 'write-model', directory: writeModelMigrations }],
  });
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
  const secrets = await secretBoxFor(config);
  const worker = createEmbedderWorker({
    groupId: `${config.KAFKA_TOPIC_PREFIX}deeplens-embedder-${manifest.modelId}@${manifest.modelVersion}`,
    topic: topicsWithPrefix(config.KAFKA_TOPIC_PREFIX).image,
    dlqTopic: topicsWithPrefix(config.KAFKA_TOPIC_PREFIX).embedderDlq,
    kafka,
    serde,
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
