/**
 * Retiring an embedding space after the installation moved to another (issue 15; the `retire`
 * step of `embeddingSpaceMoveMain.ts`, docs/search-quality.md "Moving a tenant to a new space").
 *
 * The decision is pure (`decideRetirement`): a space is retired only for a replacement every
 * tenant already searches completely; retiring it again changes nothing. Recording it appends
 * `EmbeddingSpaceRetired` to the outbox (so the log carries it, and a rebuild of the vector
 * projection skips the space's embeddings) and a row of `embedding_space.retired` in the same
 * transaction.
 */
import { z } from 'zod';
import type { EmbeddingSpaceRetired } from '@deeplens/events/embeddingSpaceEvents';
import { appendToOutbox } from '@deeplens/commands/commandHandler';
import { sql, type DatabasePool } from '@deeplens/platform/database';
import { ConflictError, ValidationError } from '@deeplens/platform/errors';
import { deterministicUuid } from '@deeplens/platform/ids';
import type { EmbeddingSpaceMove, TenantMoveProgress } from './embeddingSpaceMove.ts';

type SpaceRef = { modelId: string; modelVersion: string };

/** What the decision to retire `space` for `replacement` is taken on. */
export type RetirementInput = {
  space: SpaceRef;
  replacement: SpaceRef;
  /** The recorded move, if one is. */
  move: EmbeddingSpaceMove | undefined;
  /** Per tenant, how far the replacement is (`embeddingSpaceMoveProgress`). */
  progress: readonly TenantMoveProgress[];
  /** Spaces already retired (`modelId@modelVersion` → replaced by). */
  retired: ReadonlyMap<string, string>;
  now: number;
};

const name = (space: SpaceRef) => `${space.modelId}@${space.modelVersion}`;

/**
 * The retirement of `space`, or `undefined` when it is already retired (nothing to append).
 * Refused (`ConflictError`) while it could take answers away from a search: the replacement is
 * itself retired, a recorded move goes elsewhere or to the space retired, or a tenant still has
 * images indexed in the read model with no vector in the replacement.
 */
export function decideRetirement(input: RetirementInput): EmbeddingSpaceRetired | undefined {
  const space = name(input.space);
  const replacement = name(input.replacement);
  if (space === replacement) throw new ValidationError(`${space} cannot replace itself`);
  if (input.retired.has(space)) return undefined;
  if (input.retired.has(replacement)) {
    throw new ConflictError(`${replacement} is retired itself: it cannot replace ${space}`);
  }
  if (input.move && input.move.targetSpace !== replacement) {
    throw new ConflictError(
      `a move to ${input.move.targetSpace} is recorded: retire ${space} for that space, or finish the move first`,
    );
  }
  const behind = input.progress.filter((p) => p.missing > 0);
  if (behind.length > 0) {
    const missing = behind.reduce((sum, p) => sum + p.missing, 0);
    throw new ConflictError(
      `${behind.length} tenant(s) still have ${missing} image(s) with no vector in ${replacement}: retiring ${space} would take them out of search (see status)`,
      { detail: { tenants: behind.length, missing } },
    );
  }
  const eventId = deterministicUuid('embedding-space-retired', space);
  return {
    type: 'EmbeddingSpaceRetired',
    data: { modelId: input.space.modelId, modelVersion: input.space.modelVersion, replacedBy: replacement },
    metadata: {
      eventId,
      aggregateId: `embedding-space:${space}`,
      aggregateVersion: 1,
      tenantId: null,
      occurredAt: input.now,
      correlationId: eventId,
      causationId: null,
      actor: 'system:embedding-space-move',
    },
  };
}

const retiredRow = z.object({ space: z.string(), replacedBy: z.string() });
const existsRow = z.object({ exists: z.boolean() });

async function tableExists(pool: DatabasePool, table: string): Promise<boolean> {
  return pool.oneFirst(sql.type(existsRow)`select to_regclass(${table}) is not null as exists`);
}

/**
 * The retired spaces (`modelId@modelVersion` → the space that replaced it), from both records:
 * the write side's (`embedding_space.retired`, written by `retire`) and the vector read model's
 * (`vector_status.retired_spaces`, folded from the log, so it comes back in a rebuild even when
 * the write side's row is gone).
 */
export async function retiredEmbeddingSpaces(pool: DatabasePool): Promise<Map<string, string>> {
  const [written, projected] = await Promise.all([
    tableExists(pool, 'embedding_space.retired'),
    tableExists(pool, 'vector_status.retired_spaces'),
  ]);
  const parts = [
    ...(written ? [sql.fragment`select space, replaced_by from embedding_space.retired`] : []),
    ...(projected
      ? [sql.fragment`select model_id || '@' || model_version, replaced_by from vector_status.retired_spaces`]
      : []),
  ];
  if (parts.length === 0) return new Map();
  const rows = await pool.any(sql.type(retiredRow)`
    select space, min(replaced_by) as "replacedBy"
    from (${sql.join(parts, sql.fragment` union all `)}) as r(space, replaced_by)
    group by space`);
  return new Map(rows.map((r) => [r.space, r.replacedBy]));
}

/**
 * Records a retirement: the event in the outbox and the write side's row, in one transaction
 * (a crash leaves both or neither; the relay publishes the event within its poll interval, 1 s).
 * Answers whether it was new.
 */
export async function recordRetirement(pool: DatabasePool, event: EmbeddingSpaceRetired): Promise<boolean> {
  const { modelId, modelVersion, replacedBy } = event.data;
  return pool.transaction(async (tx) => {
    const inserted = await tx.query(sql.typeAlias('void')`
      insert into embedding_space.retired (space, model_id, model_version, replaced_by, retired_at)
      values (${`${modelId}@${modelVersion}`}, ${modelId}, ${modelVersion}, ${replacedBy},
        to_timestamp(${event.metadata.occurredAt}::float8 / 1000))
      on conflict do nothing`);
    if (inserted.rowCount === 0) return false;
    await appendToOutbox(tx, event, 'embedding-space');
    return true;
  });
}

/**
 * Refuses to embed in a retired space: an embedder started on it (an `EMBEDDER_MODEL_MANIFEST`
 * left on the old space) stops at start-up, naming the replacement.
 */
export async function assertSpaceNotRetired(pool: DatabasePool, space: SpaceRef): Promise<void> {
  const replacedBy = (await retiredEmbeddingSpaces(pool)).get(name(space));
  if (replacedBy !== undefined) {
    throw new ConflictError(
      `embedding space ${name(space)} is retired (replaced by ${replacedBy}): set EMBEDDER_MODEL_MANIFEST to ${replacedBy}'s manifest, or unset it`,
    );
  }
}
