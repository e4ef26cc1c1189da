/** Starts the projector process: metadata, usage and vector projections. */
import { bootstrapProcess } from '@deeplens/events/processBootstrap';
import type { Config } from '@deeplens/platform/config';
import { createDatabasePool } from '@deeplens/platform/database';
import type { Logger } from '@deeplens/platform/logger';
import {
  createProjectionDependencies,
  loadProjectorEnv,
  projectionDefinitions,
  projectionMigrations,
} from './projectionRuntime.ts';
import { startProjectionService } from './projectionService.ts';

import { topicsWithPrefix } from '@deeplens/events/topics';

export async function startProjectors(
  config: Config,
  log: Logger,
  options: { skip?: readonly string[] } = {},
): Promise<{ stop: () => Promise<void> }> {
  const env = loadProjectorEnv();
  const { kafka, serde } = await bootstrapProcess(config, {
    clientId: 'deeplens-projector',
    migrations: [{ component: 'projections', directory: projectionMigrations }],
    ensureTopics: !process.env.DEEPLENS_PROJECTION_TOPICS,
  });
  // The installation's topics and groups, unless a test names its own.
  const named = topicsWithPrefix(config.KAFKA_TOPIC_PREFIX);
  const projectionTopics = process.env.DEEPLENS_PROJECTION_TOPICS
    ? env.DEEPLENS_PROJECTION_TOPICS
    : [named.tenant, named.identity, named.image];
  const groupPrefix = process.env.DEEPLENS_PROJECTION_GROUP_PREFIX
    ? env.DEEPLENS_PROJECTION_GROUP_PREFIX
    : `${config.KAFKA_TOPIC_PREFIX}deeplens.projection`;
  const pool = await createDatabasePool(config);
  const deps = createProjectionDependencies(config, pool, log, env.DEEPLENS_VECTOR_NAMESPACE);
  const services = env.DEEPLENS_PROJECTIONS.map((name) =>
    startProjectionService(projectionDefinitions[name]!, {
      kafka,
      serde,
      deps,
      databaseUrl: config.DATABASE_URL,
      topics: projectionTopics,
      groupPrefix,
      maxBytesPerPartition: env.DEEPLENS_PROJECTION_MAX_BATCH_BYTES,
      sessionTimeoutMs: env.DEEPLENS_PROJECTION_SESSION_TIMEOUT_MS,
      log,
      skip: options.skip,
      // Vectors: one partition at a time (the index is one writer); PostgreSQL ones: two.
      partitionsConsumedConcurrently: name === 'vectors' ? 1 : 2,
    }),
  );
  return {
    stop: async () => {
      await Promise.all(services.map((s) => s.stop()));
      await deps.tenantDatabases?.close();
      await pool.end();
    },
  };
}
