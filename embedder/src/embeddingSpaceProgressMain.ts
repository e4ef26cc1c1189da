/**
 * Prints, per tenant, how many live images are embedded in a space: the progress of a move to
 * it (docs/search-quality.md, "Moving a tenant to a new space"). Exit code 0 when every live
 * image is, 2 while some are not.
 *
 *   npx tsx embedder/src/embeddingSpaceProgressMain.ts [manifest.json]
 *
 * Without a manifest: the target of the recorded move (`embeddingSpaceMoveMain.ts start`), with
 * per tenant whether it already searches it; with no move recorded, the default model (v2).
 */
import { loadConfig } from '@deeplens/platform/config';
import { createDatabasePool } from '@deeplens/platform/database';
import { buildDefaultModel } from './buildDefaultModel.ts';
import { embeddingSpaceProgress } from './embeddingSpaceChoice.ts';
import { embeddingSpaceMoveProgress, recordedEmbeddingSpaceMove } from './embeddingSpaceMove.ts';
import { loadModelManifest } from './modelManifest.ts';

const path = process.argv[2];
const pool = await createDatabasePool(loadConfig());
try {
  const move = path ? undefined : await recordedEmbeddingSpaceMove(pool);
  const manifest = path
    ? await loadModelManifest(path)
    : move
      ? await loadModelManifest(move.manifestPath)
      : (await buildDefaultModel()).manifest;
  const progress = await embeddingSpaceProgress(pool, manifest);
  // Whether each tenant already searches the move's target (every embedded live image indexed there).
  const missing = move
    ? new Map((await embeddingSpaceMoveProgress(pool, manifest)).map((p) => [p.tenantId, p.missing]))
    : undefined;
  const total = progress.reduce(
    (sum, p) => ({ active: sum.active + p.active, embedded: sum.embedded + p.embedded }),
    {
      active: 0,
      embedded: 0,
    },
  );
  console.log(`space ${manifest.modelId}@${manifest.modelVersion}${move ? ' (the recorded move)' : ''}`);
  for (const p of progress) {
    const left = missing?.get(p.tenantId);
    const searches =
      left === undefined ? '' : left === 0 ? ', searches it' : `, ${left} to index before it searches it`;
    console.log(`tenant ${p.tenantId ?? '-'}: ${p.embedded} of ${p.active} live images${searches}`);
  }
  console.log(
    `all: ${total.embedded} of ${total.active}${total.embedded === total.active ? ' (complete)' : ''}`,
  );
  process.exitCode = total.embedded === total.active ? 0 : 2;
} finally {
  await pool.end();
}
