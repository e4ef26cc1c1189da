import type { Kafka } from 'kafkajs';
import type { DeepLensEvent } from '@deeplens/events/domainEvent';
import type { EventSerde } from '@deeplens/events/eventSerde';
import {
  StopConsuming,
  startConsumerRuntime,
  type HaltedPartition,
} from '@deeplens/platform/consumerRuntime';
import type { Logger } from '@deeplens/platform/logger';
import { checkpointKey, GenerationRetiredError, type Checkpoints, type Projection } from './projection.ts';

export type ProjectorRunnerOptions = {
  kafka: Kafka;
  serde: EventSerde;
  projection: Projection;
  /** The topics to project (production: `topics.tenant`, `topics.identity`, `topics.image`). */
  topics: readonly string[];
  groupId: string;
  log: Logger;
  /** Partitions applied at the same time (PostgreSQL projections may use several). */
  partitionsConsumedConcurrently?: number;
  /** Bytes fetched per partition per request: bigger batches replay faster. */
  maxBytesPerPartition?: number;
  /** Bytes fetched per request, all partitions together (the broker caps it at its `fetch.max.bytes`). */
  maxBytes?: number;
  /**
   * How long the group waits for a member that stopped heartbeating (a killed process) before
   * giving its partitions to others; kafkajs's default is 30 s.
   */
  sessionTimeoutMs?: number;
  /** `topic:partition:offset` of records the operator skips (`--skip`); each is recorded in `projections.failures`. */
  skip?: readonly string[];
  /** Called when the runner stopped by itself (its generation was retired). */
  onRetired?: () => void;
  /** Called when a partition halts at a record that cannot be decoded or applied. */
  onHalted?: (halted: HaltedPartition) => void | Promise<void>;
};

export type ProjectorRunner = {
  /** Records done (applied, ignored or skipped by the operator) since start. */
  readonly applied: number;
  /** `performance.now()` when the first batch arrived (throughput without the group join). */
  readonly firstBatchAt: number | undefined;
  /** Partitions halted at a record that cannot be decoded or applied. */
  halted(): HaltedPartition[];
  stop(): Promise<void>;
};

/**
 * Runs one projection as a Kafka consumer group on the consumer runtime. The projection's own
 * checkpoints are the source of truth: on every partition assignment the consumer starts at
 * checkpoint + 1, and `handle` re-checks inside its transaction. Kafka's committed offsets
 * serve only lag monitoring (the runtime is pipelined: they may run one batch ahead of the
 * checkpoints). A record that cannot be decoded or applied halts its partition (never skipped)
 * until the operator fixes it or names it in `skip`.
 */
export async function startProjectorRunner(options: ProjectorRunnerOptions): Promise<ProjectorRunner> {
  const { projection, serde } = options;
  const log = options.log.child({ projection: projection.name, generation: projection.generation });
  // One read of the checkpoints serves every partition of one assignment.
  let checkpoints: { at: number; read: Promise<Checkpoints> } | undefined;
  const runtime = await startConsumerRuntime<DeepLensEvent>({
    name: projection.name,
    kafka: options.kafka,
    groupId: options.groupId,
    topics: options.topics,
    log,
    decode: (value) => serde.decodeEvent(value),
    startOffset: async (topic, partition) => {
      if (!checkpoints || performance.now() - checkpoints.at > 1000)
        checkpoints = { at: performance.now(), read: projection.checkpoints() };
      return ((await checkpoints.read).get(checkpointKey(topic, partition)) ?? -1) + 1;
    },
    handle: async ({ topic, partition, records, skipped, lastOffset }) => {
      try {
        await projection.handle({
          topic,
          partition,
          events: records.map((r) => ({ event: r.value, topic, partition, offset: r.offset })),
          poison: skipped.map((s) => ({
            ...s,
            error: 'skipped by the operator (--skip)',
            operatorSkip: true,
          })),
          lastOffset,
        });
      } catch (error) {
        if (error instanceof GenerationRetiredError) throw new StopConsuming('the generation was retired');
        throw error;
      }
    },
    onFailure: 'halt',
    // The next batch is fetched and decoded while the previous one commits; the checkpoints
    // above are where a failed hand-over resumes (fail-stop), so nothing is skipped.
    pipelined: true,
    skip: options.skip,
    spanName: (record) =>
      `project ${record.value.type} → ${projection.name}${projection.name === 'vectors' ? ' (vector index)' : ''}`,
    onHalted: options.onHalted,
    onStopped: options.onRetired,
    partitionsConsumedConcurrently: options.partitionsConsumedConcurrently,
    maxBytesPerPartition: options.maxBytesPerPartition,
    maxBytes: options.maxBytes,
    sessionTimeoutMs: options.sessionTimeoutMs,
  });
  return {
    get applied() {
      return runtime.done;
    },
    get firstBatchAt() {
      return runtime.firstBatchAt;
    },
    halted: () => runtime.halted(),
    stop: () => runtime.stop(),
  };
}
