import type { DatabasePool } from '@deeplens/platform/database';
import type { Logger } from '@deeplens/platform/logger';
import { recordedEmbeddingSpaceMove, spaceName } from './embeddingSpaceMove.ts';
import { retiredEmbeddingSpaces } from './embeddingSpaceRetirement.ts';
import { loadModelManifest, type ModelManifest } from './modelManifest.ts';

/** What embeds in one space: started for the target of a recorded move. */
export type SpaceEmbedder = { stop(): Promise<void> };

/**
 * Follows the recorded move (`embedding_space.moves`) for an embedder process serving
 * `serving`: once a move to another space is recorded, loads its manifest and starts a second
 * embedder in that space (`startInSpace`: its own consumer group, from the start of the image
 * log). Looked up at once and every `pollIntervalMs` (1 s: a one-row table); the target's embedder runs until the
 * process stops, also after the move is finished (the process is restarted on the target then).
 * A failure to start (a manifest the process cannot read) is logged and tried again.
 *
 * Once the serving space is retired (`embeddingSpaceMoveMain.ts retire`), `onServingRetired` is
 * called, once: the process must stop embedding in it.
 */
export function followEmbeddingSpaceMove(options: {
  pool: DatabasePool;
  serving: Pick<ModelManifest, 'modelId' | 'modelVersion'>;
  startInSpace: (manifest: ModelManifest) => Promise<SpaceEmbedder>;
  log: Logger;
  onServingRetired?: (replacedBy: string) => Promise<void> | void;
  pollIntervalMs?: number;
}): { started: Promise<void>; stop(): Promise<void> } {
  const { pool, log } = options;
  let target: { space: string; embedder: SpaceEmbedder } | undefined;
  let stopped = false;
  let checking: Promise<void> = Promise.resolve();
  let servingRetired = false;

  async function check(): Promise<void> {
    if (stopped) return;
    if (!servingRetired && options.onServingRetired) {
      const replacedBy = (await retiredEmbeddingSpaces(pool)).get(spaceName(options.serving));
      if (replacedBy !== undefined) {
        servingRetired = true;
        await options.onServingRetired(replacedBy);
      }
    }
    if (target) return;
    const move = await recordedEmbeddingSpaceMove(pool);
    if (!move || move.targetSpace === spaceName(options.serving)) return;
    const manifest = await loadModelManifest(move.manifestPath);
    if (spaceName(manifest) !== move.targetSpace) {
      throw new Error(
        `the move's manifest ${move.manifestPath} is ${spaceName(manifest)}, not ${move.targetSpace}`,
      );
    }
    log.info('embedding space move: embedding in the target space too', {
      serving: spaceName(options.serving),
      target: move.targetSpace,
    });
    const embedder = await options.startInSpace(manifest);
    if (stopped) await embedder.stop();
    else target = { space: move.targetSpace, embedder };
  }

  const run = () =>
    (checking = checking
      .then(check)
      .catch((error: unknown) => log.warn('embedding space move: following failed', { error })));
  const started = run();
  const timer = setInterval(() => void run(), options.pollIntervalMs ?? 1000);
  timer.unref();
  return {
    started,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await checking;
      await target?.embedder.stop();
    },
  };
}
