import { setTimeout as sleep } from 'node:timers/promises';
import {
  abandonGeneration,
  acquireGenerationLock,
  markGenerationDropped,
  markGenerationSnapshot,
  resumeSnapshot,
  retireSnapshot,
  startBuildingGeneration,
  switchGeneration,
  type GenerationBound,
} from './generations.ts';
import type { HaltedPartition } from '@deeplens/platform/consumerRuntime';
import { checkpointKey, type Projection, type ProjectionDefinition } from './projection.ts';
import { projectionGroupId, type ProjectionRuntimeOptions } from './projectionService.ts';
import { logEnd } from './logEnd.ts';
import { startProjectorRunner } from './projectorRunner.ts';
import { boundedProjection, resolveBound, type UntilArgument } from './rebuildBound.ts';
import { rebuildProgressMetrics } from './rebuildMetrics.ts';

export { logEnd };

export type RebuildOptions = ProjectionRuntimeOptions & {
  /**
   * How long the retired generation is kept after the switch before it is dropped: readers that
   * cache the active generation (the vector search polls it) move over within this time.
   */
  dropAfterMs?: number;
  /** Called right after the switch's transaction committed (tests measure around it). */
  onSwitched?: (generation: number) => void;
  /**
   * A point-in-time rebuild: the generation is built only up to this bound and kept beside the
   * active one as a `snapshot` (never switched to) until `promoteSnapshot` or `dropSnapshot`.
   */
  until?: UntilArgument;
  /** Progress while replaying (also published as `deeplens_projection_rebuild_*` metrics). */
  onProgress?: (progress: RebuildProgress) => void;
};

/** Records done (sum of checkpoints + 1, capped at the end) of the total to reach (sum of end offsets). */
export type RebuildProgress = { done: number; total: number; elapsedMs: number };

export type RebuildResult = {
  projection: string;
  generation: number;
  previous: number | undefined;
  /** Records applied by the rebuild before the switch. */
  records: number;
  /** From the first batch to caught up (the consumer group's join is not counted). */
  seconds: number;
  /** From the start of the rebuild to caught up. */
  totalSeconds: number;
  /** A point-in-time rebuild: the bound it was built to (the generation is a snapshot, not switched). */
  until?: GenerationBound;
};

/**
 * A rebuild that could not decode or apply every record: it never switches to a generation
 * with a hole. Names each record; the operator fixes the cause or skips it with `--skip`.
 */
export class RebuildIncompleteError extends Error {
  override readonly name = 'RebuildIncompleteError';
  constructor(readonly halted: readonly HaltedPartition[]) {
    super(
      `the rebuild stopped at ${halted.length} record(s) it could not decode or apply: ${halted
        .map((h) => `${h.topic}:${h.partition}:${h.offset} (${h.reason})`)
        .join(
          '; ',
        )}. Fix the cause (e.g. the schema registry), or skip each one explicitly with --skip topic:partition:offset`,
    );
  }
}

/**
 * Waits until a projection's checkpoints reach `ends` (the log as it was when they were read).
 * With `halted`, a partition halted at a record it cannot get past counts as settled; once
 * every partition is reached or halted and any is halted, throws `RebuildIncompleteError`.
 */
export async function waitUntilReached(
  projection: Projection,
  ends: Map<string, number>,
  pollMs = 100,
  halted?: () => HaltedPartition[],
  onPoll?: (done: number, total: number) => void,
): Promise<void> {
  for (;;) {
    const checkpoints = await projection.checkpoints();
    if (onPoll) {
      let done = 0;
      let total = 0;
      for (const [key, end] of ends) {
        total += end;
        done += Math.min(end, (checkpoints.get(key) ?? -1) + 1);
      }
      onPoll(done, total);
    }
    const pending = [...ends]
      .filter(([key, end]) => (checkpoints.get(key) ?? -1) < end - 1)
      .map(([key]) => key);
    if (pending.length === 0) return;
    const stuck = halted?.() ?? [];
    const stuckKeys = new Set(stuck.map((h) => checkpointKey(h.topic, h.partition)));
    if (stuck.length > 0 && pending.every((key) => stuckKeys.has(key)))
      throw new RebuildIncompleteError(stuck);
    await sleep(pollMs);
  }
}

/**
 * Rebuilds a projection without downtime: a NEW generation is built from offset 0 beside the
 * live one (which keeps serving and keeps being updated), and once it has caught up with the
 * log it is switched to atomically; the old generation is dropped `dropAfterMs` later. The live
 * projector service notices the switch and carries on with the new generation.
 *
 * With `until`, the generation is built only up to that bound (records after it, on each
 * partition, are not applied) and kept as a `snapshot` beside the live one: nothing is switched.
 */
export async function rebuildProjection(
  definition: ProjectionDefinition,
  options: RebuildOptions,
): Promise<RebuildResult> {
  const { deps } = options;
  // Resolved before anything is created: a bad bound changes nothing.
  const bound = options.until ? await resolveBound(options.kafka, options.topics, options.until) : undefined;
  const generation = await startBuildingGeneration(deps.pool, definition.name);
  return buildGeneration(definition, generation, options, { fresh: true, bound });
}

/**
 * Promotes a snapshot (a point-in-time generation): it catches up with the log from its bound
 * (the read side never serves the past as the present), is switched to, and the previous
 * active generation is dropped. A promotion that fails drops the half-caught-up generation.
 */
export async function promoteSnapshot(
  definition: ProjectionDefinition,
  generation: number,
  options: RebuildOptions,
): Promise<RebuildResult> {
  await resumeSnapshot(options.deps.pool, definition.name, generation);
  return buildGeneration(definition, generation, options, { fresh: false });
}

/** Drops a snapshot generation: its schemas, vector index and checkpoints. */
export async function dropSnapshot(
  definition: ProjectionDefinition,
  generation: number,
  options: Pick<RebuildOptions, 'deps' | 'databaseUrl'>,
): Promise<void> {
  await retireSnapshot(options.deps.pool, definition.name, generation);
  const lock = await acquireGenerationLock(options.databaseUrl, definition.name, generation);
  try {
    await definition.drop(options.deps, generation);
    await markGenerationDropped(options.deps.pool, definition.name, generation);
  } finally {
    await lock.release();
  }
}

async function buildGeneration(
  definition: ProjectionDefinition,
  generation: number,
  options: RebuildOptions,
  how: { fresh: boolean; bound?: GenerationBound },
): Promise<RebuildResult> {
  const { deps } = options;
  const { bound } = how;
  const log = options.log.child({ projection: definition.name, rebuild: true });
  log.info(how.fresh ? 'rebuilding' : 'promoting', {
    generation,
    ...(bound ? { until: bound.label } : {}),
  });
  const lock = await acquireGenerationLock(options.databaseUrl, definition.name, generation);
  let settled = false;
  let previous: number | undefined;
  let records = 0;
  let seconds = 0;
  let totalSeconds = 0;
  const started = performance.now();
  const onPoll = (done: number, total: number) => {
    const progress = { done, total, elapsedMs: performance.now() - started };
    rebuildProgressMetrics(progress, { projection: definition.name });
    options.onProgress?.(progress);
  };
  try {
    const opened = await definition.open(deps, generation);
    try {
      if (how.fresh) await opened.truncate();
      const projection = bound ? boundedProjection(opened, bound.ends) : opened;
      const runner = await startProjectorRunner({
        kafka: options.kafka,
        serde: options.serde,
        projection,
        topics: options.topics,
        groupId: projectionGroupId(options.groupPrefix, definition.name, generation),
        log: options.log,
        // PostgreSQL projections overlap decoding and applying; the vector projection (one
        // writer) applies the batches of one fetch as one group commit. Its fetches stay near
        // 8 MiB (records of ~7 KiB): kafkajs gathers a response into one buffer, and one over
        // ~32 MiB is fresh memory every time (page faults cost ~10× the copy); the extra
        // commits overlap the next fetch (the runner is pipelined).
        partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 3,
        maxBytesPerPartition:
          options.maxBytesPerPartition ?? (definition.name === 'vectors' ? 3 : 8) * 2 ** 20,
        maxBytes: (definition.name === 'vectors' ? 8 : 32) * 2 ** 20,
        sessionTimeoutMs: options.sessionTimeoutMs,
        skip: options.skip,
      });
      try {
        const halted = () => runner.halted();
        if (bound) {
          await waitUntilReached(projection, new Map(Object.entries(bound.ends)), 25, halted, onPoll);
        } else {
          // Under continuous ingest the log's end keeps moving, so "caught up" means: reached
          // where the log ended when we looked. A second, short round brings the lag at the
          // switch down to what the live projector has anyway.
          await waitUntilReached(projection, await logEnd(options.kafka, options.topics), 25, halted, onPoll);
          await waitUntilReached(projection, await logEnd(options.kafka, options.topics), 20, halted, onPoll);
        }
        totalSeconds = (performance.now() - started) / 1000;
        seconds = (performance.now() - (runner.firstBatchAt ?? started)) / 1000;
        records = runner.applied;
        if (bound) {
          await markGenerationSnapshot(deps.pool, definition.name, generation, bound);
          settled = true;
          log.info('built a snapshot as of its bound', { generation, until: bound.label, records, seconds });
        } else {
          previous = await switchGeneration(deps.pool, definition, generation);
          settled = true;
          log.info('switched', { generation, previous, records, seconds });
          options.onSwitched?.(generation);
        }
      } finally {
        await runner.stop();
      }
    } finally {
      await opened.close();
    }
  } catch (error) {
    if (!settled) {
      await abandonGeneration(deps.pool, definition.name, generation);
      await definition.drop(deps, generation).catch(() => undefined);
      await markGenerationDropped(deps.pool, definition.name, generation).catch(() => undefined);
    }
    throw error;
  } finally {
    await lock.release();
  }
  if (previous !== undefined) {
    await sleep(options.dropAfterMs ?? 5_000);
    // The old generation's runner, if any, stops at its next batch (the generation is retired);
    // wait for it to let go of the generation before removing its storage.
    const oldLock = await acquireGenerationLock(options.databaseUrl, definition.name, previous);
    try {
      await definition.drop(deps, previous);
      await markGenerationDropped(deps.pool, definition.name, previous);
    } finally {
      await oldLock.release();
    }
    log.info('dropped the previous generation', { previous });
  }
  return {
    projection: definition.name,
    generation,
    previous,
    records,
    seconds,
    totalSeconds,
    ...(bound ? { until: bound } : {}),
  };
}
