import type { Consumer, Kafka, KafkaMessage } from 'kafkajs';
import type { EventSerde } from '@deeplens/events/eventSerde';
import type { Logger } from '@deeplens/platform/logger';
import { describeError } from './postgresProjection.ts';
import { consumerLag, deadLetters, eventsApplied } from '@deeplens/platform/metrics';
import { SpanKind, traceContextOf, tracer } from '@deeplens/platform/telemetry';
import {
  checkpointKey,
  GenerationRetiredError,
  type PoisonRecord,
  type Projection,
  type RecordedEvent,
} from './projection.ts';
import { isTransientError } from './transientErrors.ts';

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
  /** Called when the runner stopped by itself (its generation was retired). */
  onRetired?: () => void;
};

export type ProjectorRunner = {
  /** Records applied (or skipped as poison) since start. */
  readonly applied: number;
  /** `performance.now()` when the first batch arrived (throughput without the group join). */
  readonly firstBatchAt: number | undefined;
  stop(): Promise<void>;
};

/**
 * Runs one projection as a Kafka consumer group. The projection's own checkpoints are the
 * source of truth: on every partition assignment the consumer seeks to checkpoint + 1, and
 * records at or below a checkpoint are dropped again before `handle` (which re-checks inside
 * its transaction). Kafka's committed offsets trail the checkpoints and only serve lag
 * monitoring. An undecodable record is passed on as poison (recorded, then skipped); a
 * transient failure fails the batch, which kafkajs retries.
 */
export async function startProjectorRunner(options: ProjectorRunnerOptions): Promise<ProjectorRunner> {
  const { projection, serde } = options;
  const log = options.log.child({ projection: projection.name, generation: projection.generation });
  const consumer: Consumer = options.kafka.consumer({
    groupId: options.groupId,
    maxWaitTimeInMs: 250,
    maxBytesPerPartition: options.maxBytesPerPartition ?? 4 * 2 ** 20,
    maxBytes: options.maxBytes ?? 32 * 2 ** 20,
    retry: { retries: 10 },
    sessionTimeout: options.sessionTimeoutMs ?? 30_000,
    heartbeatInterval: Math.max(500, Math.floor((options.sessionTimeoutMs ?? 30_000) / 10)),
  });
  const next = new Map<string, number>();
  let ready: Promise<void> = Promise.resolve();
  let applied = 0;
  let firstBatchAt: number | undefined;
  let stopped = false;
  let stopping: Promise<void> | undefined;

  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    ready = (async () => {
      const checkpoints = await projection.checkpoints();
      for (const [topic, partitions] of Object.entries(payload.memberAssignment)) {
        for (const partition of partitions) {
          const offset = (checkpoints.get(checkpointKey(topic, partition)) ?? -1) + 1;
          next.set(checkpointKey(topic, partition), offset);
          consumer.seek({ topic, partition, offset: String(offset) });
        }
      }
      log.debug('assigned', { assignment: payload.memberAssignment });
    })();
    ready.catch((error: unknown) => log.error('reading checkpoints failed', { error }));
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (!stopped) log.error('consumer crashed', { error: payload.error, restart: payload.restart });
  });

  async function decode(topic: string, partition: number, messages: KafkaMessage[]) {
    const events: RecordedEvent[] = [];
    const poison: PoisonRecord[] = [];
    for (const message of messages) {
      const offset = Number(message.offset);
      if (!message.value) {
        poison.push({ topic, partition, offset, error: 'a record without a value', value: null });
        continue;
      }
      try {
        events.push({ event: await serde.decodeEvent(message.value), topic, partition, offset });
      } catch (error) {
        if (isTransientError(error)) throw error;
        poison.push({
          topic,
          partition,
          offset,
          error: `undecodable: ${describeError(error)}`,
          value: message.value,
        });
      }
    }
    return { events, poison };
  }

  /**
   * Metrics for the batch, and one span per applied event continuing the trace its Kafka
   * headers carry (the upload's), so a trace reaches the read models. Spans are no-ops unless
   * tracing is on.
   */
  function observeBatch(
    topic: string,
    partition: number,
    messages: KafkaMessage[],
    events: RecordedEvent[],
    poisoned: number,
    startedAt: number,
    lag: string,
  ): void {
    eventsApplied.inc({ consumer: projection.name }, events.length);
    if (poisoned > 0) deadLetters.inc({ consumer: projection.name }, poisoned);
    consumerLag.set({ group: options.groupId, topic, partition: String(partition) }, Number(lag));
    const headersByOffset = new Map(messages.map((m) => [Number(m.offset), m.headers]));
    for (const { event, offset } of events) {
      const span = tracer.startSpan(
        `project ${event.type} → ${projection.name}${projection.name === 'vectors' ? ' (vector index)' : ''}`,
        {
          kind: SpanKind.CONSUMER,
          startTime: startedAt,
          attributes: { 'messaging.kafka.offset': offset, 'deeplens.projection': projection.name },
        },
        traceContextOf(headersByOffset.get(offset)),
      );
      span.end();
    }
  }

  await consumer.connect();
  await consumer.subscribe({ topics: [...options.topics], fromBeginning: true });
  await consumer.run({
    autoCommit: true,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 1,
    eachBatch: async (payload) => {
      const { batch } = payload;
      await ready;
      if (stopped || !payload.isRunning() || payload.isStale()) return;
      const key = checkpointKey(batch.topic, batch.partition);
      const from = next.get(key) ?? 0;
      const messages = batch.messages.filter((m) => Number(m.offset) >= from);
      const last = messages.at(-1);
      if (!last) return;
      firstBatchAt ??= performance.now();
      const batchStartedAt = Date.now();
      const { events, poison } = await decode(batch.topic, batch.partition, messages);
      for (const p of poison)
        log.warn('poison record skipped', {
          topic: p.topic,
          partition: p.partition,
          offset: p.offset,
          error: p.error,
        });
      try {
        await projection.handle({
          topic: batch.topic,
          partition: batch.partition,
          events,
          poison,
          lastOffset: Number(last.offset),
        });
      } catch (error) {
        if (error instanceof GenerationRetiredError) {
          log.info('generation retired; stopping');
          stopped = true;
          options.onRetired?.();
          return;
        }
        log.warn('batch failed; it will be retried', {
          error,
          topic: batch.topic,
          partition: batch.partition,
        });
        throw error;
      }
      next.set(key, Number(last.offset) + 1);
      applied += messages.length;
      observeBatch(
        batch.topic,
        batch.partition,
        messages,
        events,
        poison.length,
        batchStartedAt,
        batch.offsetLag(),
      );
      payload.resolveOffset(last.offset);
      await payload.heartbeat();
    },
  });

  return {
    get applied() {
      return applied;
    },
    get firstBatchAt() {
      return firstBatchAt;
    },
    stop() {
      stopped = true;
      stopping ??= consumer.disconnect();
      return stopping;
    },
  };
}
