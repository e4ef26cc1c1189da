/**
 * Prints, per tenant, how many live images are embedded in a space: the progress of a move to
 * it (docs/search-quality.md, "Moving a tenant to a new space"). Exit code 0 when every live
 * image is, 2 while some are not.
 *
 *   npx tsx embedder/src/embeddingSpaceProgressMain.ts [manifest.json]   # default: the default model (v2)
 */
import { loadConfig } from '@deeplens/platform/config';
import { createDatabasePool } from '@deeplens/platform/database';
import { buildDefaultModel } from './buildDefaultModel.ts';
import { embeddingSpaceProgress } from './embeddingSpaceChoice.ts';
import { loadModelManifest } from './modelManifest.ts';

const path = process.argv[2];
const manifest = path ? await loadModelManifest(path) : (await buildDefaultModel()).manifest;
const pool = await createDatabasePool(loadConfig());
try {
  const progress = await embeddingSpaceProgress(pool, manifest);
  const total = progress.reduce(
    (sum, p) => ({ active: sum.active + p.active, embedded: sum.embedded + p.embedded }),
    {
      active: 0,
      embedded: 0,
    },
  );
  console.log(`space ${manifest.modelId}@${manifest.modelVersion}`);
  for (const p of progress)
    console.log(`tenant ${p.tenantId ?? '-'}: ${p.embedded} of ${p.active} live images`);
  console.log(
    `all: ${total.embedded} of ${total.active}${total.embedded === total.active ? ' (complete)' : ''}`,
  );
  process.exitCode = total.embedded === total.active ? 0 : 2;
} finally {
  await pool.end();
}
