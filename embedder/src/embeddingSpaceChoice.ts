/**
 * Which embedding space a process embeds in: the configured manifest (`EMBEDDER_MODEL_MANIFEST`),
 * else the default model (descriptor v2). The embedder embeds uploads and the read API embeds
 * query images through this one choice, so a query is always in the space it searches.
 *
 * An installation whose images were embedded with an older version of the default model (v1:
 * average pooling, 1792-d) is not moved to the new default silently: its searches would answer
 * from the new space only, missing every image not yet embedded again. Such an installation
 * must name its space explicitly (keep v1 — and move with `embeddingSpaceMoveMain.ts start`,
 * without a gap in search — or choose v2 and let the embedder re-embed the log); until then the
 * process refuses to start, saying so.
 */
import {
  activeImagesEmbeddedIn,
  otherEmbeddedModelVersion,
  writeModelExists,
} from '@deeplens/commands/writeModelQueries';
import type { DatabasePool } from '@deeplens/platform/database';
import { buildDefaultModel } from './buildDefaultModel.ts';
import { loadModelManifest, type ModelManifest } from './modelManifest.ts';

export class EmbeddingSpaceNotChosenError extends Error {
  constructor(
    readonly defaultSpace: string,
    readonly storedSpace: string,
    backboneManifestPath: string,
    defaultManifestPath: string,
  ) {
    super(
      `this installation's images are embedded in ${storedSpace}, not in the default space ${defaultSpace}; ` +
        `choose one explicitly: EMBEDDER_MODEL_MANIFEST=${backboneManifestPath} keeps searching them as they are ` +
        `(then \`npx tsx embedder/src/embeddingSpaceMoveMain.ts start ${defaultManifestPath}\` moves them to the ` +
        'default while searches keep answering), ' +
        `EMBEDDER_MODEL_MANIFEST=${defaultManifestPath} moves to the default at once (the embedder embeds every image ` +
        'again from the log; searches answer from the new space only, so they miss images until it has caught up); ' +
        'see docs/search-quality.md, "Moving a tenant to a new space"',
    );
  }
}

/**
 * A version of `manifest`'s model other than its own that some image is embedded with while not
 * embedded with `manifest`'s, if any (one row of the write model, by index order).
 */
export async function otherEmbeddedVersion(
  pool: DatabasePool,
  manifest: Pick<ModelManifest, 'modelId' | 'modelVersion'>,
): Promise<string | undefined> {
  // A read API may start before the write API created the write model: nothing is embedded yet.
  if (!(await writeModelExists(pool))) return undefined;
  return otherEmbeddedModelVersion(pool, { modelId: manifest.modelId, modelVersion: manifest.modelVersion });
}

/**
 * The manifest to embed with. With `configured` (a path) it is read as it is; otherwise the
 * default model, unless the write model holds images embedded with another version of it and
 * not with the default (`EmbeddingSpaceNotChosenError`).
 */
export async function chooseEmbeddingManifest(
  configured: string | undefined,
  pool: DatabasePool,
): Promise<ModelManifest> {
  if (configured) return loadModelManifest(configured);
  const built = await buildDefaultModel();
  const other = await otherEmbeddedVersion(pool, built.manifest);
  if (other !== undefined) {
    throw new EmbeddingSpaceNotChosenError(
      `${built.manifest.modelId}@${built.manifest.modelVersion}`,
      `${built.manifest.modelId}@${other}`,
      built.backboneManifestPath,
      built.manifestPath,
    );
  }
  return built.manifest;
}

/** How far a move to another space has come, per tenant: its live images, and those embedded in `manifest`'s space. */
export type SpaceProgress = { tenantId: string | null; active: number; embedded: number };

/**
 * Per tenant, its live images and how many of them are embedded in `manifest`'s space (from the
 * write model, consistent the moment the embedder records an embedding): the progress of a
 * second embedder configured with a new space while the read API keeps answering from the old
 * one (docs/search-quality.md, "Moving a tenant to a new space").
 */
export async function embeddingSpaceProgress(
  pool: DatabasePool,
  manifest: Pick<ModelManifest, 'modelId' | 'modelVersion'>,
): Promise<SpaceProgress[]> {
  const rows = await activeImagesEmbeddedIn(pool, {
    modelId: manifest.modelId,
    modelVersion: manifest.modelVersion,
  });
  return rows.map((r) => ({ tenantId: r.tenantId, active: r.active, embedded: r.embedded }));
}
