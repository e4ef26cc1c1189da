import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka } from 'kafkajs';
import type { EventSerde } from '@deeplens/events/eventSerde';
import type { Logger } from '@deeplens/platform/logger';
import { acquireGenerationLock, activeGeneration, ensureActiveGeneration } from './generations.ts';
import type { ProjectionDefinition, ProjectionDependencies } from './projection.ts';
import { startProjectorRunner, type ProjectorRunner } from './projectorRunner.ts';

export type ProjectionRuntimeOptions = {
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
      const projection = await definition.open(options.deps, gen);
      try {
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
          onRetired: () => (retired = true),
        });
        generation = gen;
        log.info('projecting', { generation: gen });
        while (!abort.signal.aborted && !retired) {
          await sleep(pollIntervalMs, undefined, { signal: abort.signal }).catch(() => undefined);
          if ((await activeGeneration(options.deps.pool, definition.name).catch(() => gen)) !== gen) break;
        }
      } finally {
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
