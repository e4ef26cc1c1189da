import type { CommandHandler } from '@deeplens/commands/commandHandler';
import type { EmbeddingModel } from '@deeplens/embedder/onnxEmbeddingModel';
import type { MetadataQueries } from '@deeplens/projections/metadataQueries';
import type { ModelRef, VectorQueries } from '@deeplens/projections/vectorQueries';
import type { TokenVerifier } from '@deeplens/platform/auth/accessTokens';
import type { CredentialCache } from '@deeplens/platform/auth/credentialCache';
import type { Config } from '@deeplens/platform/config';
import type { DatabasePool } from '@deeplens/platform/database';
import type { Logger } from '@deeplens/platform/logger';
import type { TenantStorage, TenantWithStorage } from '@deeplens/platform/tenantStorage';
import type { EmbeddingSpaceSelection } from './embeddingSpaceSelection.ts';

/** Everything the read API needs, built by its composition root or a test. */
export type ReadApiDependencies = {
  config: Config;
  pool: DatabasePool;
  metadata: MetadataQueries;
  vectors: VectorQueries;
  /** The write model, read for what must be current at once: API key revocation, tenant status. */
  writeModel: Pick<CommandHandler, 'load'>;
  /** The model that embeds query images: the same id and version as the index it searches. */
  queryModel: () => Promise<EmbeddingModel>;
  /** The model searches use when a request names none (during a move: the request's tenant's space). */
  defaultModel: ModelRef;
  /**
   * During a move to another embedding space, the space each tenant searches; `defaultModel` and
   * `queryModel` follow it per request. Without it every tenant searches `defaultModel`.
   */
  embeddingSpaces?: EmbeddingSpaceSelection;
  storageOf: (tenant: TenantWithStorage) => TenantStorage;
  verifier: TokenVerifier;
  /**
   * API keys, token standing and tenant state as authentication reads them, remembered until the
   * write model announces a change; without it every request reads them.
   */
  credentials?: CredentialCache;
  log: Logger;
  clock: () => number;
};
