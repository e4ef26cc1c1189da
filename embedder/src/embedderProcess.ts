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
import { embeddingSpaceMigrations } from './embeddingSpaceMove.ts';
import { followEmbeddingSpaceMove } from './embeddingSpaceMoveFollower.ts';
import { assertSpaceNotRetired } from './embeddingSpaceRetirement.ts';
import type { ModelManifest } from './modelManifest.ts';
import { loadEmbeddingModel } from './onnxEmbeddingModel.ts';

export async function startEmbedder(config: Config, log: Logger): Promise<{ stop: () => Promise<void> }> {
  const { kafka, serde } = await bootstrapProcess(config, {
    clientId: 'deeplens-embedder',
    migrations: [{ component: 'write-model', directory: writeModelMigrations }, embeddingSpaceMigrations],
  });
  const pool = await createDatabasePool(config);
  const manifest = await chooseEmbeddingManifest(config.EMBEDDER_MODEL_MANIFEST, pool).catch(
    async (error: unknown) => {
      await pool.end();
      throw error;
    },
  );
  const secrets = await secretBoxFor(config);
  const handler = createCommandHandler({ pool });
  const storageOf = createTenantStorageResolver(config, createObjectStore(config), secrets);

  /** An embedder of one space: its model, and a consumer group of its own on the image log. */
  async function startInSpace(space: ModelManifest) {
    const model = await loadEmbeddingModel(space, {
      maxBatchSize: config.EMBEDDER_BATCH_SIZE,
      maxInputPixels: config.IMAGE_MAX_PIXELS,
      ...(config.EMBEDDER_INTRA_OP_THREADS ? { intraOpThreads: config.EMBEDDER_INTRA_OP_THREADS } : {}),
    });
    log.info('model loaded', {
      modelId: space.modelId,
      modelVersion: space.modelVersion,
      dimension: model.dimension,
      embeddingSpace: model.embeddingSpace,
    });
    const worker = createEmbedderWorker({
      groupId: `${config.KAFKA_TOPIC_PREFIX}deeplens-embedder-${space.modelId}@${space.modelVersion}`,
      topic: topicsWithPrefix(config.KAFKA_TOPIC_PREFIX).image,
      dlqTopic: topicsWithPrefix(config.KAFKA_TOPIC_PREFIX).embedderDlq,
      kafka,
      serde,
      handler,
      model,
      storageOf,
      log,
      batchSize: config.EMBEDDER_BATCH_SIZE,
      batchWindowMs: config.EMBEDDER_BATCH_WINDOW_MS,
      maxAttempts: config.EMBEDDER_MAX_ATTEMPTS,
      thumbnailSize: config.THUMBNAIL_MAX_SIZE,
    });
    try {
      await worker.start();
    } catch (error) {
      await model.close();
      throw error;
    }
    return {
      stop: async () => {
        await worker.stop();
        await model.close();
      },
    };
  }

  // A retired space is never embedded in again (embeddingSpaceMoveMain.ts retire).
  await assertSpaceNotRetired(pool, manifest).catch(async (error: unknown) => {
    await pool.end();
    throw error;
  });
  let serving: { stop(): Promise<void> } | undefined = await startInSpace(manifest);
  // A recorded move to another space (embeddingSpaceMoveMain.ts) embeds every image there too.
  const move = followEmbeddingSpaceMove({
    pool,
    serving: manifest,
    startInSpace,
    log,
    async onServingRetired(replacedBy) {
      log.error('the serving embedding space is retired: this process stops embedding in it', {
        space: `${manifest.modelId}@${manifest.modelVersion}`,
        replacedBy,
      });
      const stopping = serving;
      serving = undefined;
      await stopping?.stop();
    },
  });
  await move.started;
  return {
    stop: async () => {
      await move.stop();
      await serving?.stop();
      await pool.end();
    },
  };
}
