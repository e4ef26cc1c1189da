import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { topics } from '@deeplens/events/topics';
import type { Config } from '@deeplens/platform/config';
import type { DatabasePool } from '@deeplens/platform/database';
import type { Logger } from '@deeplens/platform/logger';
import type { VectorIndex } from '@deeplens/platform/vectorIndex';
import { openEmbeddedVectorIndex } from './embeddedVectorIndex.ts';
import { activeGeneration } from './generations.ts';
import { imageHistoryProjection } from './imageHistoryProjection.ts';
import { metadataProjection } from './metadataProjection.ts';
import type { ProjectionDefinition, ProjectionDependencies } from './projection.ts';
import { createQdrantVectorIndex, dropQdrantNamespace, pointQdrantAliases } from './qdrantVectorIndex.ts';
import { createTenantDatabases, type TenantDatabaseConfig } from './tenantDatabases.ts';
import { usageProjection } from './usageProjection.ts';
import { vectorProjection } from './vectorProjection.ts';

/** The projections' migrations (bookkeeping tables), applied by `main.ts` and `rebuildMain.ts`. */
export const projectionMigrations = join(import.meta.dirname, '..', 'migrations');

/** Every projection, by name. */
export const projectionDefinitions: Readonly<Record<string, ProjectionDefinition>> = {
  [metadataProjection.name]: metadataProjection,
  [usageProjection.name]: usageProjection,
  [vectorProjection.name]: vectorProjection,
  [imageHistoryProjection.name]: imageHistoryProjection,
};

/**
 * Settings of the projector processes beyond the shared configuration: which projections run,
 * which topics they read (tests use their own) and the consumer groups' prefix.
 */
const projectorEnvSchema = z.object({
  DEEPLENS_PROJECTIONS: z
    .string()
    .default('metadata,usage,vectors,history')
    .transform((s) => s.split(',').map((p) => p.trim()))
    .pipe(z.array(z.enum(['metadata', 'usage', 'vectors', 'history']))),
  DEEPLENS_PROJECTION_TOPICS: z
    .string()
    .optional()
    .transform((s) =>
      s ? s.split(',').map((t) => t.trim()) : [topics.tenant, topics.identity, topics.image],
    ),
  DEEPLENS_PROJECTION_GROUP_PREFIX: z.string().default('deeplens.projection'),
  /** Bytes fetched per partition and request (how big a batch can get). */
  DEEPLENS_PROJECTION_MAX_BATCH_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(4 * 2 ** 20),
  /** How soon a killed projector's partitions go to its successor (Kafka allows ≥ 6 s). */
  DEEPLENS_PROJECTION_SESSION_TIMEOUT_MS: z.coerce.number().int().min(6000).default(30_000),
  /** Qdrant collections of generation N are named `<namespace>_g<N>__…`. */
  DEEPLENS_VECTOR_NAMESPACE: z.string().default('deeplens'),
});

export type ProjectorEnv = z.infer<typeof projectorEnvSchema>;

export function loadProjectorEnv(env: Record<string, string | undefined> = process.env): ProjectorEnv {
  const parsed = projectorEnvSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid projector configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

type VectorConfig = Pick<Config, 'VECTOR_STORE' | 'VECTOR_INDEX_DIR' | 'QDRANT_URL' | 'QDRANT_API_KEY'> &
  Partial<Pick<Config, 'QDRANT_REPLICATION_FACTOR' | 'QDRANT_SHARDS' | 'QDRANT_FALLBACK_URLS'>>;

/** The folder of one generation of the embedded vector index. */
export function vectorGenerationDir(config: Pick<Config, 'VECTOR_INDEX_DIR'>, generation: number): string {
  return resolve(config.VECTOR_INDEX_DIR, `g${generation}`);
}

/**
 * Opens generation `generation` of the configured vector store. With Qdrant and `isActive`, the
 * writer of the active generation (the live projector, also right after following a switch)
 * points the stable aliases `<namespace>__<model>@<version>` at its collections.
 */
export function vectorIndexOpener(
  config: VectorConfig,
  namespace = 'deeplens',
  isActive?: (generation: number) => Promise<boolean>,
): (generation: number, mode: 'writer' | 'follower') => Promise<VectorIndex> {
  if (config.VECTOR_STORE === 'qdrant') {
    if (!config.QDRANT_URL) throw new Error('VECTOR_STORE=qdrant needs QDRANT_URL');
    const url = config.QDRANT_URL;
    return async (generation, mode) => {
      const physical = `${namespace}_g${generation}`;
      const aliased = mode === 'writer' && (await isActive?.(generation)) === true;
      if (aliased)
        await pointQdrantAliases({
          url,
          apiKey: config.QDRANT_API_KEY,
          namespace: physical,
          alias: namespace,
        });
      return createQdrantVectorIndex({
        url,
        apiKey: config.QDRANT_API_KEY,
        namespace: physical,
        alias: aliased ? namespace : undefined,
        replicationFactor: config.QDRANT_REPLICATION_FACTOR,
        shards: config.QDRANT_SHARDS,
        fallbackUrls: config.QDRANT_FALLBACK_URLS,
      });
    };
  }
  return (generation, mode) =>
    openEmbeddedVectorIndex({ dir: vectorGenerationDir(config, generation), mode });
}

/** What the projections need, from the configuration. */
export function createProjectionDependencies(
  config: VectorConfig & Partial<TenantDatabaseConfig>,
  pool: DatabasePool,
  log: Logger,
  namespace = 'deeplens',
): ProjectionDependencies {
  return {
    pool,
    log,
    ...(config.DATABASE_URL
      ? {
          tenantDatabases: createTenantDatabases({
            DATABASE_URL: config.DATABASE_URL,
            TENANT_DATABASE_URLS: config.TENANT_DATABASE_URLS ?? {},
          }),
        }
      : {}),
    openVectorIndex: vectorIndexOpener(
      config,
      namespace,
      async (generation) => (await activeGeneration(pool, vectorProjection.name)) === generation,
    ),
    dropVectorIndex: async (generation) => {
      if (config.VECTOR_STORE === 'qdrant') {
        await dropQdrantNamespace({
          url: config.QDRANT_URL!,
          apiKey: config.QDRANT_API_KEY,
          namespace: `${namespace}_g${generation}`,
        });
      } else {
        await rm(vectorGenerationDir(config, generation), { recursive: true, force: true });
      }
    },
  };
}
