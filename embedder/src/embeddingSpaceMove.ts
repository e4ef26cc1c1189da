/**
 * The move of an installation's images to another embedding space without a gap in search
 * (issue 15; docs/search-quality.md, "Moving a tenant to a new space"). One command records it
 * (`embeddingSpaceMoveMain.ts start <manifest>`); from then on:
 *
 * - every embedder process also embeds in the target space, under the target's own consumer
 *   group reading the image log from its start (`embeddingSpaceMoveFollower.ts`): every live image
 *   again, and every new upload in both spaces;
 * - the read API answers each tenant from its configured (serving) space until every live image
 *   of the tenant that is embedded at all has a vector in the target space's read model, then
 *   from the target space (`read-api/src/embeddingSpaceSelection.ts`).
 *
 * Afterwards the operator names the target in `EMBEDDER_MODEL_MANIFEST` (its consumer group has
 * caught up, so nothing is embedded twice) and finishes the move.
 */
import { join } from 'node:path';
import { z } from 'zod';
import { sql, type DatabasePool } from '@deeplens/platform/database';
import { ConflictError } from '@deeplens/platform/errors';
import { activeImagesEmbeddedIn, writeModelExists } from '@deeplens/commands/writeModelQueries';
import { retiredEmbeddingSpaces } from './embeddingSpaceRetirement.ts';
import type { ModelManifest } from './modelManifest.ts';

/** The migration set (`embedding-space`) holding the recorded move. */
export const embeddingSpaceMigrations = {
  component: 'embedding-space',
  directory: join(import.meta.dirname, '..', 'migrations'),
};

type SpaceRef = Pick<ModelManifest, 'modelId' | 'modelVersion'>;

/** `modelId@modelVersion`: how a space is named in the move record, logs and answers. */
export const spaceName = (space: SpaceRef): string => `${space.modelId}@${space.modelVersion}`;

/** A recorded move: the space moved to and where its manifest is. */
export type EmbeddingSpaceMove = { targetSpace: string; manifestPath: string; requestedAt: number };

const moveRow = z.object({ targetSpace: z.string(), manifestPath: z.string(), requestedAt: z.number() });
const existsRow = z.object({ exists: z.boolean() });

async function tableExists(pool: DatabasePool, name: string): Promise<boolean> {
  return pool.oneFirst(sql.type(existsRow)`select to_regclass(${name}) is not null as exists`);
}

/** The move in progress, if one is recorded (none before the migration ran). */
export async function recordedEmbeddingSpaceMove(
  pool: DatabasePool,
): Promise<EmbeddingSpaceMove | undefined> {
  if (!(await tableExists(pool, 'embedding_space.moves'))) return undefined;
  const row = await pool.maybeOne(sql.type(moveRow)`
    select target_space as "targetSpace", manifest_path as "manifestPath",
      (extract(epoch from requested_at) * 1000)::float8 as "requestedAt"
    from embedding_space.moves`);
  return row ?? undefined;
}

/**
 * Records a move to `target` (its manifest at `manifestPath`). Recording the same move again
 * changes nothing; a move to another space while one is recorded is refused (`ConflictError`).
 */
export async function startEmbeddingSpaceMove(
  pool: DatabasePool,
  target: SpaceRef,
  manifestPath: string,
): Promise<EmbeddingSpaceMove> {
  const targetSpace = spaceName(target);
  const retiredFor = (await retiredEmbeddingSpaces(pool)).get(targetSpace);
  if (retiredFor !== undefined) {
    throw new ConflictError(`${targetSpace} is retired (replaced by ${retiredFor}): no move goes back to it`);
  }
  await pool.query(sql.typeAlias('void')`
    insert into embedding_space.moves (target_space, manifest_path) values (${targetSpace}, ${manifestPath})
    on conflict do nothing`);
  const move = await recordedEmbeddingSpaceMove(pool);
  if (!move || move.targetSpace !== targetSpace) {
    throw new ConflictError(
      `a move to ${move?.targetSpace ?? 'another space'} is recorded; finish it before starting another`,
    );
  }
  return move;
}

/** Removes the recorded move (answers whether one was). */
export async function finishEmbeddingSpaceMove(pool: DatabasePool): Promise<boolean> {
  if (!(await tableExists(pool, 'embedding_space.moves'))) return false;
  const removed = await pool.any(
    sql.type(z.object({ targetSpace: z.string() }))`
      delete from embedding_space.moves returning target_space as "targetSpace"`,
  );
  return removed.length > 0;
}

/**
 * A tenant's way to the target space. `active`: its live images; `embedded`: those embedded in
 * the target space (write model); `missing`: its images with a vector in the vector read model
 * but none in the target space — what its searches would miss there now. The tenant searches the
 * target space once `missing` is 0.
 */
export type TenantMoveProgress = {
  tenantId: string | null;
  active: number;
  embedded: number;
  missing: number;
};

/**
 * Per tenant (or for one), how far a move to `target` has come: live images and their
 * embeddings from the write model (`activeImagesEmbeddedIn`), what the target still misses from
 * the vector read model (`missingInTargetSpace`).
 */
export async function embeddingSpaceMoveProgress(
  pool: DatabasePool,
  target: SpaceRef,
  tenantId?: string,
): Promise<TenantMoveProgress[]> {
  if (!(await writeModelExists(pool))) return [];
  const embedded = await activeImagesEmbeddedIn(pool, {
    modelId: target.modelId,
    modelVersion: target.modelVersion,
  });
  const missing = await missingPerTenant(pool, target, tenantId);
  return embedded
    .filter((r) => tenantId === undefined || r.tenantId === tenantId)
    .map((r) => ({ ...r, missing: (r.tenantId !== null && missing.get(r.tenantId)) || 0 }));
}

const missingRow = z.object({ tenantId: z.string(), missing: z.number() });

/**
 * Per tenant (or for one): its images with a vector in the vector read model but none in
 * `target`'s space. From the read model's status table alone (a row per live image and space; a
 * deleted image's rows go), in the order of its primary key: about 0.1 s for 100 000 images with
 * two spaces (measureEmbeddingSpaceMoveQuery.ts).
 */
async function missingPerTenant(
  pool: DatabasePool,
  target: SpaceRef,
  tenantId?: string,
): Promise<Map<string, number>> {
  // The projection creates its status table with its first batch: before that nothing is indexed.
  if (!(await tableExists(pool, 'vector_status.image_vectors'))) return new Map();
  const rows = await pool.any(sql.type(missingRow)`
    select tenant_id as "tenantId", (count(*) filter (where not in_target))::int as missing
    from (
      select tenant_id, image_id,
        bool_or(model_id = ${target.modelId} and model_version = ${target.modelVersion}) as in_target
      from vector_status.image_vectors
      ${tenantId === undefined ? sql.fragment`` : sql.fragment`where tenant_id = ${tenantId}`}
      group by tenant_id, image_id
    ) images
    group by tenant_id`);
  return new Map(rows.map((r) => [r.tenantId, r.missing]));
}

/**
 * How many of a tenant's images have a vector in the vector read model but none in `target`'s
 * space: what its searches would miss in the target space now. The read API asks it while a
 * tenant has not switched.
 */
export async function missingInTargetSpace(
  pool: DatabasePool,
  tenantId: string,
  target: SpaceRef,
): Promise<number> {
  return (await missingPerTenant(pool, target, tenantId)).get(tenantId) ?? 0;
}
