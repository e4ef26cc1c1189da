/**
 * Moves the installation's images to another embedding space without a gap in search
 * (docs/search-quality.md, "Moving a tenant to a new space"):
 *
 *   npx tsx embedder/src/embeddingSpaceMoveMain.ts start <manifest.json>   # records the move
 *   npx tsx embedder/src/embeddingSpaceMoveMain.ts status                   # per tenant; exit 0 once complete
 *   npx tsx embedder/src/embeddingSpaceMoveMain.ts finish                   # after the restart on the target
 *   npx tsx embedder/src/embeddingSpaceMoveMain.ts retire <space> [<replacement space>]
 *       # drops the old space (`modelId@modelVersion`) for good; the replacement defaults to the move's target
 *
 * `start` is all a move needs: the running embedders pick it up within 1 s and the read API
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
import { decideRetirement, recordRetirement, retiredEmbeddingSpaces } from './embeddingSpaceRetirement.ts';
import { loadModelManifest } from './modelManifest.ts';

const usage =
  'usage: embeddingSpaceMoveMain.ts start <manifest.json> | status | finish | retire <modelId@version> [<replacement modelId@version>]';

/** `modelId@modelVersion` → its parts (a model id has no `@`). */
function parseSpace(text: string): { modelId: string; modelVersion: string } {
  const at = text.indexOf('@');
  if (at <= 0 || at === text.length - 1)
    throw new Error(`'${text}' is not a space: expected modelId@modelVersion`);
  return { modelId: text.slice(0, at), modelVersion: text.slice(at + 1) };
}

/**
 * Retires `spaceText` for the replacement (default: the recorded move's target) once every
 * tenant searches the replacement completely (`decideRetirement`).
 */
async function retire(
  pool: DatabasePool,
  spaceText: string,
  replacementText: string | undefined,
): Promise<void> {
  const space = parseSpace(spaceText);
  const move = await recordedEmbeddingSpaceMove(pool);
  const replacementName = replacementText ?? move?.targetSpace;
  if (!replacementName) throw new Error('no move is recorded: name the space that replaces it');
  const replacement = parseSpace(replacementName);
  const event = decideRetirement({
    space,
    replacement,
    move,
    progress: await embeddingSpaceMoveProgress(pool, replacement),
    retired: await retiredEmbeddingSpaces(pool),
    now: Date.now(),
  });
  if (!event || !(await recordRetirement(pool, event))) {
    console.log(`${spaceText} is already retired`);
    return;
  }
  console.log(
    `${spaceText} retired (replaced by ${event.data.replacedBy}): the vector projection drops its vectors; the read API refuses to search it and the embedder to embed in it`,
  );
}

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
if (!(
  (action === 'start' && path) ||
  action === 'status' ||
  action === 'finish' ||
  (action === 'retire' && path)
)) {
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
    } else if (action === 'retire') {
      await retire(pool, path!, process.argv[4]);
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
