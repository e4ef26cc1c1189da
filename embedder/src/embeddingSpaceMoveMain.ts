/**
 * Moves the installation's images to another embedding space without a gap in search
 * (docs/search-quality.md, "Moving a tenant to a new space"):
 *
 *   npx tsx embedder/src/embeddingSpaceMoveMain.ts start <manifest.json>   # records the move
 *   npx tsx embedder/src/embeddingSpaceMoveMain.ts status                   # per tenant; exit 0 once complete
 *   npx tsx embedder/src/embeddingSpaceMoveMain.ts finish                   # after the restart on the target
 *
 * `start` is all a move needs: the running embedders pick it up within 5 s and the read API
 * switches each tenant once its images are in the target space.
 */
import { resolve } from 'node:path';
import { loadConfig } from '@deeplens/platform/config';
import { createDatabasePool, type DatabasePool } from '@deeplens/platform/database';
import { runMigrations } from '@deeplens/platform/migrations';
import {
  embeddingSpaceMigrations,
  embeddingSpaceMoveProgress,
  finishEmbeddingSpaceMove,
  recordedEmbeddingSpaceMove,
  startEmbeddingSpaceMove,
} from './embeddingSpaceMove.ts';
import { loadModelManifest } from './modelManifest.ts';

const usage = 'usage: embeddingSpaceMoveMain.ts start <manifest.json> | status | finish';

/** Prints the move's progress per tenant; answers whether every tenant searches the target. */
async function printStatus(pool: DatabasePool): Promise<boolean> {
  const move = await recordedEmbeddingSpaceMove(pool);
  if (!move) {
    console.log('no move recorded');
    return true;
  }
  const manifest = await loadModelManifest(move.manifestPath);
  const progress = await embeddingSpaceMoveProgress(pool, manifest);
  console.log(
    `move to ${move.targetSpace} (${move.manifestPath}), recorded ${new Date(move.requestedAt).toISOString()}`,
  );
  for (const p of progress) {
    const state = p.missing === 0 ? 'searches the target space' : `${p.missing} images to index in it`;
    console.log(`tenant ${p.tenantId ?? '-'}: ${p.embedded} of ${p.active} live images embedded, ${state}`);
  }
  const complete = progress.every((p) => p.missing === 0);
  const switched = progress.filter((p) => p.missing === 0).length;
  console.log(`${switched} of ${progress.length} tenants complete${complete ? ' (move complete)' : ''}`);
  return complete;
}

const [action, path] = process.argv.slice(2);
if (!((action === 'start' && path) || action === 'status' || action === 'finish')) {
  console.error(usage);
  process.exit(64);
}
const config = loadConfig();
try {
  // Before anything is recorded: a manifest that does not load is refused here, not in the embedders.
  const manifestPath = action === 'start' ? resolve(path!) : undefined;
  const manifest = manifestPath ? await loadModelManifest(manifestPath) : undefined;
  await runMigrations(
    config.DATABASE_URL,
    embeddingSpaceMigrations.component,
    embeddingSpaceMigrations.directory,
  );
  const pool = await createDatabasePool(config);
  try {
    if (manifest && manifestPath) {
      const move = await startEmbeddingSpaceMove(pool, manifest, manifestPath);
      console.log(`move to ${move.targetSpace} recorded; the embedders embed every image in it`);
      await printStatus(pool);
    } else if (action === 'status') {
      process.exitCode = (await printStatus(pool)) ? 0 : 2;
    } else {
      console.log((await finishEmbeddingSpaceMove(pool)) ? 'move finished' : 'no move recorded');
    }
  } finally {
    await pool.end();
  }
} catch (error) {
  console.error(
    `embeddingSpaceMoveMain ${action}: ${error instanceof Error ? error.message : String(error)}`,
  );
  process.exitCode = 1;
}
