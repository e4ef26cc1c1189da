import { join } from 'node:path';
import { createCommandHandler } from '@deeplens/commands/commandHandler';
import { chooseEmbeddingManifest } from '@deeplens/embedder/embeddingSpaceChoice';
import { loadEmbeddingModel, type EmbeddingModel } from '@deeplens/embedder/onnxEmbeddingModel';
import { createMetadataQueries } from '@deeplens/projections/metadataQueries';
import { loadProjectorEnv, vectorIndexOpener } from '@deeplens/projections/projectionRuntime';
import { createTenantDatabases } from '@deeplens/projections/tenantDatabases';
import { createVectorQueries } from '@deeplens/projections/vectorQueries';
import { createTokenVerifier } from '@deeplens/platform/auth/accessTokens';
import { createCredentialCache } from '@deeplens/platform/auth/credentialCache';
import { loadOrCreateSigningKey, toPublicSigningKey } from '@deeplens/platform/auth/signingKey';
import type { Config } from '@deeplens/platform/config';
import { createDatabasePool } from '@deeplens/platform/database';
import type { Logger } from '@deeplens/platform/logger';
import { runPlatformMigrations } from '@deeplens/platform/migrations';
import { createObjectStore } from '@deeplens/platform/objectStore';
import { secretBoxFor } from '@deeplens/platform/secrets';
import { createTenantStorageResolver } from '@deeplens/platform/tenantStorage';
import { createEmbeddingSpaceSelection } from './embeddingSpaceSelection.ts';
import type { ReadApiDependencies } from './readApiDependencies.ts';

/** Everything the read API needs, from configuration (used by `main.ts` and the tests). */
export async function createReadApiDependencies(config: Config, log: Logger): Promise<ReadApiDependencies> {
  // The rate-limit buckets every request spends from: the read API's own, whoever started first.
  await runPlatformMigrations(config.DATABASE_URL);
  const pool = await createDatabasePool(config);
  // The embedder's choice of space: the read API embeds query images in the space it searches.
  const manifest = await chooseEmbeddingManifest(config.EMBEDDER_MODEL_MANIFEST, pool);
  const signingKey =
    config.JWT_PRIVATE_KEY ??
    (await loadOrCreateSigningKey(join(config.SECRETS_DIR, 'access-token-signing.pem')));
  const secrets = await secretBoxFor(config);
  let model: Promise<EmbeddingModel> | undefined;
  const embeddingSpaces = createEmbeddingSpaceSelection({
    pool,
    serving: {
      model: { modelId: manifest.modelId, modelVersion: manifest.modelVersion },
      // Loaded on the first query image, so an API that only searches by id starts fast.
      queryModel: () => (model ??= loadEmbeddingModel(manifest, { maxInputPixels: config.IMAGE_MAX_PIXELS })),
    },
    loadQueryModel: (target) => loadEmbeddingModel(target, { maxInputPixels: config.IMAGE_MAX_PIXELS }),
    log,
    clock: Date.now,
  });
  return {
    config,
    pool,
    // Enterprise tenants on dedicated databases are read through pools of their own.
    metadata: createMetadataQueries(pool, { tenantDatabases: createTenantDatabases(config) }),
    // The projectors' namespace: with Qdrant, the read side must search the collections they fill.
    vectors: createVectorQueries({
      pool,
      openIndex: vectorIndexOpener(config, loadProjectorEnv().DEEPLENS_VECTOR_NAMESPACE),
      log,
    }),
    writeModel: createCommandHandler({ pool }),
    // The space of the request's tenant: the configured one, or during a move the target once
    // the tenant's images are all there (embeddingSpaceSelection.ts).
    queryModel: () => embeddingSpaces.current().queryModel(),
    get defaultModel() {
      return embeddingSpaces.current().model;
    },
    embeddingSpaces,
    storageOf: createTenantStorageResolver(config, createObjectStore(config), secrets),
    verifier: createTokenVerifier({
      publicKey: toPublicSigningKey(signingKey),
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
    }),
    credentials: createCredentialCache({
      databaseUrl: config.DATABASE_URL,
      pool,
      onError: (error) =>
        log.warn('credential change signal interrupted; authenticating uncached', { error }),
    }),
    log,
    clock: Date.now,
  };
}
