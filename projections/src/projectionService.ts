import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka } from 'kafkajs';
import type { EventSerde } from '@deeplens/events/eventSerde';
import type { Logger } from '@deeplens/platform/logger';
import { projectionReplaying } from '@deeplens/platform/metrics';
import { clearNotReady, reportNotReady } from '@deeplens/platform/readiness';
import { acquireGenerationLock, activeGeneration, ensureActiveGeneration } from './generations.ts';
import { readCheckpoints } from './postgresProjection.ts';
import type { Checkpoints, ProjectionDefinition, ProjectionDependencies } from './projection.ts';
import { readModelGaps } from './readModelHealth.ts';
import { setProjectionReadiness } from './projectionReadiness.ts';
import { logEnd } from './logEnd.ts';
import { startProjectorRunner, type ProjectorRunner } from './projectorRunner.ts';

export type ProjectionRuntimeOptions = {
  /** `topic:partition:offset` of records the operator skips (`--skip`), recorded in `projections.failures`. */
  skip?: readonly string[];
  kafka: Kafka;
  serde: EventSerde;
  deps: ProjectionDependencies;
  databaseUrl: string;
  topics: readonly string[];
  log: Logger;
  /** Prefix of the consumer groups (one per projection generation). */
  groupPrefix?: string;
  partitionsConsumedConcurrently?: number;
  maxBytesPerPartition?: number;
  sessionTimeoutMs?: number;
};

/** The consumer group of one projection generation. */
export function projectionGroupId(
  prefix: string | undefined,
  projection: string,
  generation: number,
): string {
  return `${prefix ?? 'deeplens.projection'}.${projection}.g${generation}`;
}

export type ProjectionService = {
  /** The generation being kept current, once running. */
  readonly generation: number | undefined;
  readonly applied: number;
  stop(): Promise<void>;
};

/**
 * Keeps the ACTIVE generation of a projection current, and follows a switch: when a rebuild
 * activates a new generation, the runner of the old one stops (its batches see it retired) and
 * one for the new generation starts where the rebuild left it. One writer per generation across
 * processes (advisory lock): a second instance waits as a standby.
 */
export function startProjectionService(
  definition: ProjectionDefinition,
  options: ProjectionRuntimeOptions & { pollIntervalMs?: number },
): ProjectionService {
  const log = options.log.child({ projection: definition.name });
  const pollIntervalMs = options.pollIntervalMs ?? 500;
  const abort = new AbortController();
  let generation: number | undefined;
  let runner: ProjectorRunner | undefined;
  let appliedBefore = 0;

  async function runGeneration(gen: number): Promise<void> {
    const lock = await acquireGenerationLock(options.databaseUrl, definition.name, gen, {
      signal: abort.signal,
    });
    let retired = false;
    try {
      // The lock may have been waited for across a switch.
      if ((await activeGeneration(options.deps.pool, definition.name)) !== gen) return;
      const { pool } = options.deps;
      const component = `projection ${definition.name}`;
      const projection = await definition.open(options.deps, gen);
      try {
        // A read model that is gone or half gone while its checkpoints say it is there heals
        // itself: it is rebuilt from offset 0 (the read side answers 503 meanwhile).
        const stored = await readCheckpoints(pool, definition.name, gen);
        if ([...stored.values()].some((offset) => offset >= 0)) {
          const gaps = await readModelGaps(pool, definition.name, gen, true, options.deps.tenantDatabases);
          if (gaps.length > 0) {
            log.warn('the read model is missing or half gone; rebuilding it from offset 0', {
              generation: gen,
              missing: gaps,
            });
            await setProjectionReadiness(pool, definition.name, 'replaying', 'rebuilding a lost read model', {
              missing: gaps,
            });
            await projection.truncate();
          }
        }
        // Ready once the checkpoints reach the log end seen now.
        const ends = await logEnd(options.kafka, options.topics);
        const behind = (checkpoints: Checkpoints) =>
          [...ends].reduce((sum, [key, end]) => sum + Math.max(0, end - 1 - (checkpoints.get(key) ?? -1)), 0);
        let remaining = behind(await projection.checkpoints());
        let halted = false;
        const publishProgress = async () => {
          projectionReplaying.set({ projection: definition.name }, remaining);
          if (halted) return;
          if (remaining > 0) {
            const reason = `replaying the log: ${remaining} records to go`;
            reportNotReady({ component, reason, generation: gen });
            await setProjectionReadiness(pool, definition.name, 'replaying', reason, {
              generation: gen,
              remaining,
            });
          } else {
            clearNotReady(component);
            await setProjectionReadiness(pool, definition.name, 'caught-up', null, { generation: gen });
          }
        };
        await publishProgress();
        runner = await startProjectorRunner({
          kafka: options.kafka,
          serde: options.serde,
          projection,
          topics: options.topics,
          groupId: projectionGroupId(options.groupPrefix, definition.name, gen),
          log: options.log,
          partitionsConsumedConcurrently: options.partitionsConsumedConcurrently,
          maxBytesPerPartition: options.maxBytesPerPartition,
          sessionTimeoutMs: options.sessionTimeoutMs,
          skip: options.skip,
          onRetired: () => (retired = true),
          onHalted: async (h) => {
            halted = true;
            await setProjectionReadiness(pool, definition.name, 'halted', h.reason, {
              generation: gen,
              topic: h.topic,
              partition: h.partition,
              offset: h.offset,
            }).catch((error: unknown) => log.error('recording the halt failed', { error }));
          },
        });
        generation = gen;
        log.info('projecting', { generation: gen, replaying: remaining });
        while (!abort.signal.aborted && !retired) {
          await sleep(pollIntervalMs, undefined, { signal: abort.signal }).catch(() => undefined);
          if ((await activeGeneration(options.deps.pool, definition.name).catch(() => gen)) !== gen) break;
          if (remaining > 0 && !halted) {
            const before = remaining;
            remaining = behind(await projection.checkpoints().catch(() => new Map<string, number>()));
            if (remaining === 0) log.info('caught up with the log', { generation: gen });
            if (remaining !== before) await publishProgress().catch(() => undefined);
          }
        }
      } finally {
        clearNotReady(component);
        appliedBefore += runner?.applied ?? 0;
        await runner?.stop();
        runner = undefined;
        await projection.close();
      }
    } finally {
      await lock.release();
    }
  }

  const running = (async () => {
    while (!abort.signal.aborted) {
      try {
        await runGeneration(await ensureActiveGeneration(options.deps.pool, definition.name));
      } catch (error) {
        if (abort.signal.aborted) break;
        log.error('projector failed; restarting', { error });
        await sleep(1000);
      }
    }
  })();

  return {
    get generation() {
      return generation;
    },
    get applied() {
      return appliedBefore + (runner?.applied ?? 0);
    },
    async stop() {
      abort.abort();
      await running;
    },
  };
}
