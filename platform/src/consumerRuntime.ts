import { setTimeout as sleep } from 'node:timers/promises';
import type {
  Consumer,
  ConsumerRunConfig,
  EachBatchPayload,
  IHeaders,
  Kafka,
  KafkaMessage,
  Producer,
} from 'kafkajs';
import type { Logger } from './logger.ts';
import { consumerErrors, consumerHalted, consumerLag, deadLetters, eventsApplied } from './metrics.ts';
import { clearNotReady, reportNotReady } from './readiness.ts';
import { isRetriableError } from './retriableErrors.ts';
import { SpanKind, traceContextOf, tracer } from './telemetry.ts';

/** One Kafka record, decoded, and where it sits in the log. */
export type ConsumedRecord<T> = {
  topic: string;
  partition: number;
  offset: number;
  key: Buffer | null;
  headers: IHeaders | undefined;
  value: T;
};

/** A record an operator told the consumer to pass over (`--skip topic:partition:offset`). */
export type SkippedRecord = { topic: string; partition: number; offset: number; value: Buffer | null };

/**
 * Consecutive records of ONE topic partition. When `handle` returns, every record up to
 * `lastOffset` is done (including records not handed over: not accepted, or skipped), and the
 * runtime commits `lastOffset + 1`.
 */
export type ConsumerBatch<T> = {
  topic: string;
  partition: number;
  records: ConsumedRecord<T>[];
  /** Operator skips inside this batch: the handler records them with its effect. */
  skipped: SkippedRecord[];
  lastOffset: number;
};

/**
 * Thrown by a handler to name the record that failed (else the batch's first is named). A
 * handler that applies several partitions' batches together names the partition too: the
 * batches of the other partitions are then retried, not halted.
 */
export class RecordFailedError extends Error {
  override readonly name = 'RecordFailedError';
  readonly topic: string | undefined;
  readonly partition: number | undefined;
  constructor(
    message: string,
    readonly offset: number,
    options?: { cause?: unknown; topic?: string; partition?: number },
  ) {
    super(message, options);
    this.topic = options?.topic;
    this.partition = options?.partition;
  }
}

/** Thrown by a handler when its consumer must stop for good (e.g. its projection generation retired). */
export class StopConsuming extends Error {
  override readonly name = 'StopConsuming';
}

/** A partition stopped at a record of ours that could not be decoded or applied. */
export type HaltedPartition = { topic: string; partition: number; offset: number; reason: string };

export type ConsumerRuntimeOptions<T> = {
  /** The consumer's name in metrics, logs and readiness (`projection metadata`, `eraser`…). */
  name: string;
  kafka: Kafka;
  groupId: string;
  topics: readonly string[];
  log: Logger;
  /**
   * The one serde, e.g. `(value) => serde.decodeEvent(value)`. A non-retriable throw = undecodable.
   * A record without a value (a tombstone) comes as an empty buffer, `message.value` null.
   */
  decode: (value: Buffer, message: KafkaMessage, topic: string) => Promise<T>;
  /** Records not accepted are passed over without being decoded (not this consumer's business). */
  accept?: (message: KafkaMessage, topic: string) => boolean;
  handle: (batch: ConsumerBatch<T>) => Promise<void>;
  /**
   * What a record that cannot be applied (a non-retriable error, or retries exhausted) does:
   * `halt` stops its partition (a record of our own must never be skipped); `dead-letter`
   * sends it to `deadLetterTopic` with the reason in its headers and moves on.
   */
  onFailure: 'halt' | 'dead-letter';
  /** What an undecodable record does: `halt` (default: the log holds only our records) or `dead-letter`. */
  onUndecodable?: 'halt' | 'dead-letter';
  deadLetterTopic?: string;
  /** Attempts at a retriable failure before it counts as a failure (default 5). */
  maxAttempts?: number;
  /**
   * What a retriable failure still failing after `maxAttempts` does: `redeliver` gives the
   * records from the failing one on back to Kafka (a dependency that stays down is not the
   * record's fault; always so under `halt`), `fail` treats it as the record's failure, i.e.
   * dead-letters it (the default under `dead-letter`).
   */
  whenRetriesRunOut?: 'redeliver' | 'fail';
  /** Backoff between attempts: doubles from `initialMs` up to `maxMs` (defaults 200 ms, 5 s). */
  backoff?: { initialMs: number; maxMs: number };
  isRetriable?: (error: unknown) => boolean;
  /** Where to start each partition on assignment (a checkpoint + 1); default the group's offset. */
  startOffset?: (topic: string, partition: number) => Promise<number | undefined>;
  /** `topic:partition:offset` of records an operator decided to pass over. */
  skip?: Iterable<string>;
  /** The span name of a handled record (its trace continues from the `traceparent` header). */
  spanName?: (record: ConsumedRecord<T>) => string;
  /** Called when a partition halts (e.g. to publish it beyond this process). */
  onHalted?: (halted: HaltedPartition) => void | Promise<void>;
  /** Called when the handler asked to stop (`StopConsuming`). */
  onStopped?: () => void;
  partitionsConsumedConcurrently?: number;
  maxBytesPerPartition?: number;
  maxBytes?: number;
  maxWaitTimeInMs?: number;
  /**
   * At most this many records (accepted, not skipped) handed to `handle` at once: a fetched batch
   * is handed over in slices, each committed (and a heartbeat sent) before the next, so a
   * handler whose records take long (the embedder's inference) keeps its commits and heartbeats
   * frequent. Default: the whole fetched batch.
   */
  maxRecordsPerBatch?: number;
  /** How long the group waits for a silent member (a killed process); kafkajs's default is 30 s. */
  sessionTimeoutMs?: number;
  /**
   * Pipelined: a batch is handed over and the next one fetched and decoded while `handle` is
   * still making the previous one durable (a replay is then not serial: fetch, decode, apply,
   * commit). Per partition still one `handle` at a time, in order: a batch is handed over only
   * once the previous one of its partition was done. Kafka's committed offsets then run ahead
   * of what is durable, so it needs `startOffset` (the stores' checkpoints are the truth).
   * Fail-stop: when a handed-over batch fails (after its retries), the partition stops, resumes
   * from `startOffset`, and hands the records up to the failed batch's end over one batch at a
   * time as in the serial mode (so halting and redelivery are unchanged). Only with
   * `onFailure: 'halt'` (a rewind hands records over again; dead-lettering must not repeat).
   */
  pipelined?: boolean;
};

export type ConsumerRuntime = {
  /** Records done (handled, passed over or skipped) since start. */
  readonly done: number;
  /** `performance.now()` when the first batch arrived. */
  readonly firstBatchAt: number | undefined;
  /** Records sent to the dead-letter topic since start. */
  readonly deadLettered: number;
  /** Partitions halted now. */
  halted(): HaltedPartition[];
  stop(): Promise<void>;
};

const partitionKey = (topic: string, partition: number) => `${topic}:${partition}`;

/** Records of one partition decoded up to the first that halts it (`covered`: the last one done by decoding). */
type Decoded<T> = {
  topic: string;
  partition: number;
  key: string;
  from: number;
  startedAt: number;
  records: ConsumedRecord<T>[];
  skipped: SkippedRecord[];
  haltAt: HaltedPartition | undefined;
  covered: number;
};

/** Parses `topic:partition:offset` (an operator's `--skip`); the topic may contain colons. */
export function parseRecordAddress(text: string): { topic: string; partition: number; offset: number } {
  const match = /^(.+):(\d+):(\d+)$/.exec(text.trim());
  if (!match) throw new Error(`"${text}" is not topic:partition:offset`);
  return { topic: match[1]!, partition: Number(match[2]), offset: Number(match[3]) };
}

/**
 * The one Kafka consumer loop of DeepLens: subscribes, decodes each record through the serde,
 * hands batches of one partition to `handle`, and commits offsets only after `handle` returned
 * (the effect is durable). A retriable failure is retried with backoff (`maxAttempts`, then
 * the batch is given back to Kafka for redelivery under `halt`, or dead-lettered). A record of
 * ours that cannot be decoded or applied halts its partition: nothing after it is applied,
 * `/readyz` reports the reason, topic, partition and offset, and `deeplens_consumer_halted`
 * is raised, until an operator fixes the cause or skips the record explicitly. Lag, applied and
 * error metrics are kept per consumer; each handled record gets a span continuing its trace.
 */
export async function startConsumerRuntime<T>(options: ConsumerRuntimeOptions<T>): Promise<ConsumerRuntime> {
  const { name } = options;
  const log = options.log.child({ consumer: name });
  const isRetriable = options.isRetriable ?? isRetriableError;
  const maxAttempts = options.maxAttempts ?? 5;
  const backoff = options.backoff ?? { initialMs: 200, maxMs: 5000 };
  const redeliverRetriable = options.onFailure === 'halt' || options.whenRetriesRunOut === 'redeliver';
  const skip = new Set([...(options.skip ?? [])].map((s) => s.trim()));
  if (
    (options.onFailure === 'dead-letter' || options.onUndecodable === 'dead-letter') &&
    !options.deadLetterTopic
  )
    throw new Error(`consumer ${name}: dead-lettering needs a deadLetterTopic`);
  const sessionTimeout = options.sessionTimeoutMs ?? 30_000;
  const heartbeatInterval = Math.max(500, Math.floor(sessionTimeout / 10));
  const consumer: Consumer = options.kafka.consumer({
    groupId: options.groupId,
    maxWaitTimeInMs: options.maxWaitTimeInMs ?? 250,
    maxBytesPerPartition: options.maxBytesPerPartition ?? 4 * 2 ** 20,
    maxBytes: options.maxBytes ?? 32 * 2 ** 20,
    retry: { retries: 10 },
    sessionTimeout,
    heartbeatInterval,
  });
  let producer: Producer | undefined;
  const next = new Map<string, number>();
  const halted = new Map<string, HaltedPartition>();
  const abort = new AbortController();
  let ready: Promise<void> = Promise.resolve();
  let done = 0;
  let deadLettered = 0;
  let firstBatchAt: number | undefined;
  let stopping: Promise<void> | undefined;
  const readinessKey = (key: string) => `consumer ${name} ${key}`;
  const pipelined = options.pipelined === true;
  if (pipelined && !options.startOffset)
    throw new Error(`consumer ${name}: the pipelined mode needs startOffset (the stores' checkpoints)`);
  // A rewind hands records over again: dead-lettering them twice is what the serial mode avoids.
  if (pipelined && (options.onFailure !== 'halt' || options.onUndecodable === 'dead-letter'))
    throw new Error(`consumer ${name}: the pipelined mode is for consumers that halt on a failure`);
  /** Pipelined: per partition, the batch handed over last, settled (done, or rewound) when it resolves. */
  const tails = new Map<string, Promise<void>>();
  /** Pipelined: bumped per partition by a rewind (and for all by an assignment): a batch decoded before is stale. */
  const epochs = new Map<string, number>();
  let assignmentEpoch = 0;
  /** Pipelined: after a rewind, records up to this offset are handed over serially. */
  const serialThrough = new Map<string, number>();
  const inFlight = new Set<Promise<void>>();

  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    assignmentEpoch++;
    ready = (async () => {
      // Pipelined: what was handed over settles first, so the checkpoints read below include it.
      await Promise.all(inFlight);
      const assigned = new Set<string>();
      for (const [topic, partitions] of Object.entries(payload.memberAssignment)) {
        for (const partition of partitions) {
          const key = partitionKey(topic, partition);
          assigned.add(key);
          if (halted.has(key)) {
            consumer.pause([{ topic, partitions: [partition] }]);
            continue;
          }
          const offset = await options.startOffset?.(topic, partition);
          if (offset === undefined) continue;
          next.set(key, offset);
          consumer.seek({ topic, partition, offset: String(offset) });
        }
      }
      // A halted partition now consumed elsewhere is that member's to report.
      for (const key of halted.keys()) {
        if (assigned.has(key)) continue;
        halted.delete(key);
        clearNotReady(readinessKey(key));
      }
      log.debug('assigned', { assignment: payload.memberAssignment });
    })();
    ready.catch((error: unknown) => log.error('preparing the assignment failed', { error }));
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (abort.signal.aborted) return;
    log.error('consumer crashed', { error: payload.error, restart: payload.restart });
    // kafkajs restarts after a crash it deems retriable; after any other (a group coordinator
    // not found while a broker restarts, for one) its consumer stays stopped for good while the
    // process lives on. The runtime restarts it, so a consumer never dies quietly.
    if (!payload.restart) void restartAfterCrash(payload.error);
  });

  let restarting = false;
  async function restartAfterCrash(cause: Error): Promise<void> {
    if (restarting) return;
    restarting = true;
    consumerErrors.inc({ consumer: name, kind: 'crash' });
    reportNotReady({
      component: readinessKey('crashed'),
      reason: `the consumer crashed (${describe(cause)}); restarting it`,
    });
    try {
      for (let attempt = 1; !abort.signal.aborted; attempt++) {
        const delay = Math.min(backoff.maxMs, backoff.initialMs * 2 ** (attempt - 1));
        await sleep(delay, undefined, { signal: abort.signal }).catch(() => undefined);
        if (abort.signal.aborted) return;
        try {
          await consumer.connect();
          await consumer.run(runConfig);
          log.warn('consumer restarted after a crash', { attempt });
          clearNotReady(readinessKey('crashed'));
          return;
        } catch (error) {
          log.error('restarting the consumer failed; trying again', { attempt, error });
          await consumer.disconnect().catch(() => undefined);
        }
      }
    } finally {
      restarting = false;
    }
  }

  /** Runs `work`, retrying a retriable failure with backoff; answers the last error if it never worked. */
  async function withRetries(
    work: () => Promise<void>,
    where?: { topic: string; partition: number },
  ): Promise<{ error: unknown; retriable: boolean } | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        await work();
        return undefined;
      } catch (error) {
        const elsewhere =
          error instanceof RecordFailedError &&
          where !== undefined &&
          error.topic !== undefined &&
          (error.topic !== where.topic || error.partition !== where.partition);
        if (error instanceof StopConsuming || (!elsewhere && !isRetriable(error)))
          return { error, retriable: false };
        if (attempt >= maxAttempts || abort.signal.aborted) return { error, retriable: true };
        consumerErrors.inc({ consumer: name, kind: 'retry' });
        const delay = Math.min(backoff.maxMs, backoff.initialMs * 2 ** (attempt - 1));
        log.warn('retriable failure; retrying', { attempt, delayMs: delay, error });
        await sleep(delay * (0.75 + Math.random() / 2), undefined, { signal: abort.signal }).catch(
          () => undefined,
        );
      }
    }
  }

  async function deadLetter(topic: string, partition: number, message: KafkaMessage, reason: string) {
    producer ??= options.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    await producer.send({
      topic: options.deadLetterTopic!,
      acks: -1,
      messages: [
        {
          key: message.key,
          value: message.value,
          headers: {
            ...message.headers,
            'dlq-reason': reason,
            'dlq-source': `${topic}:${partition}:${message.offset}`,
            'dlq-consumer': name,
            'dlq-time': new Date().toISOString(),
          },
        },
      ],
    });
    deadLettered++;
    deadLetters.inc({ consumer: name });
    consumerErrors.inc({ consumer: name, kind: 'dead-letter' });
    log.warn('record dead-lettered', { topic, partition, offset: Number(message.offset), reason });
  }

  async function halt(h: HaltedPartition): Promise<void> {
    const key = partitionKey(h.topic, h.partition);
    halted.set(key, h);
    consumer.pause([{ topic: h.topic, partitions: [h.partition] }]);
    consumerHalted.set({ consumer: name, topic: h.topic, partition: String(h.partition) }, 1);
    consumerErrors.inc({ consumer: name, kind: 'halt' });
    reportNotReady({ component: readinessKey(key), ...h });
    log.error('partition halted: a record of ours cannot be decoded or applied', { ...h });
    await options.onHalted?.(h);
  }

  const describe = (error: unknown) =>
    error instanceof Error
      ? `${error.name}: ${error.message}${error.cause instanceof Error ? `: ${error.cause.message}` : ''}`
      : String(error);

  function observe(topic: string, partition: number, records: ConsumedRecord<T>[], startedAt: number) {
    eventsApplied.inc({ consumer: name }, records.length);
    if (!options.spanName) return;
    for (const record of records) {
      tracer
        .startSpan(
          options.spanName(record),
          {
            kind: SpanKind.CONSUMER,
            startTime: startedAt,
            attributes: { 'messaging.kafka.offset': record.offset, 'deeplens.consumer': name },
          },
          traceContextOf(record.headers),
        )
        .end();
    }
  }

  /**
   * Decodes and hands over consecutive records of one partition (a whole fetched batch, or a
   * slice of it), commits what is done; answers false when the partition stops here (halted,
   * or the handler asked to stop). Throws to give the rest back to Kafka.
   */
  async function consumeSlice(
    payload: EachBatchPayload,
    messages: KafkaMessage[],
    consume: (payload: EachBatchPayload, messages: KafkaMessage[]) => Promise<boolean>,
  ): Promise<boolean> {
    // A handler may take longer than the session (inference on a loaded machine, backoff while a
    // dependency is down): the group hears from this member meanwhile. A heartbeat that finds a
    // rebalance is answered by the next one the consumer sends between batches.
    const keepAlive = setInterval(() => {
      payload.heartbeat().catch(() => undefined);
    }, heartbeatInterval);
    try {
      return await consume(payload, messages);
    } finally {
      clearInterval(keepAlive);
    }
  }

  async function consumeRecords(payload: EachBatchPayload, messages: KafkaMessage[]): Promise<boolean> {
    return settle(payload, messages, await decodeRecords(payload, messages));
  }

  /** Decodes consecutive records of one partition, up to the first that halts it. */
  async function decodeRecords(payload: EachBatchPayload, messages: KafkaMessage[]): Promise<Decoded<T>> {
    const { topic, partition } = payload.batch;
    const key = partitionKey(topic, partition);
    const from = next.get(key) ?? 0;
    const startedAt = Date.now();

    // Decode up to the first record that halts the partition.
    const records: ConsumedRecord<T>[] = [];
    const skipped: SkippedRecord[] = [];
    let haltAt: HaltedPartition | undefined;
    let covered = from - 1;
    for (const message of messages) {
      const offset = Number(message.offset);
      if (skip.has(`${key}:${offset}`)) {
        skipped.push({ topic, partition, offset, value: message.value });
        consumerErrors.inc({ consumer: name, kind: 'skip' });
        log.warn('record skipped by the operator (--skip)', { topic, partition, offset });
      } else if (options.accept && !options.accept(message, topic)) {
        // Not this consumer's business.
      } else {
        let value: T | undefined;
        const failure = await withRetries(async () => {
          value = await options.decode(message.value ?? Buffer.alloc(0), message, topic);
        });
        if (failure?.retriable) throw failure.error; // the registry is down: Kafka redelivers
        if (failure) {
          const reason = `undecodable: ${message.value ? '' : 'a record without a value: '}${describe(failure.error)}`;
          if (options.onUndecodable === 'dead-letter') await deadLetter(topic, partition, message, reason);
          else {
            haltAt = { topic, partition, offset, reason };
            break;
          }
        } else {
          records.push({
            topic,
            partition,
            offset,
            key: message.key,
            headers: message.headers,
            value: value!,
          });
        }
      }
      covered = offset;
    }
    return { topic, partition, key, from, startedAt, records, skipped, haltAt, covered };
  }

  /** Hands decoded records over and waits until they are done; then commits what is done. */
  async function settle(
    payload: EachBatchPayload,
    messages: KafkaMessage[],
    decoded: Decoded<T>,
  ): Promise<boolean> {
    const { batch } = payload;
    const { topic, partition, key, from, startedAt, records, skipped } = decoded;
    let { haltAt, covered } = decoded;
    // A dependency that stayed down: thrown once what precedes the failing record is resolved.
    let redeliver: { error: unknown } | undefined;
    if (covered >= from) {
      const whole: ConsumerBatch<T> = { topic, partition, records, skipped, lastOffset: covered };
      const failure = await withRetries(() => options.handle(whole), { topic, partition });
      if (failure?.error instanceof StopConsuming) {
        log.info('stopping', { reason: failure.error.message });
        abort.abort();
        options.onStopped?.();
        return false;
      }
      if (failure?.retriable && redeliverRetriable) {
        // A dependency that stays down is not the record's fault: Kafka redelivers the batch.
        // What precedes its first record is done (passed over, or dead-lettered as undecodable).
        covered = (records[0]?.offset ?? from) - 1;
        redeliver = { error: failure.error };
      } else if (failure && options.onFailure === 'halt') {
        const offset =
          failure.error instanceof RecordFailedError ? failure.error.offset : (records[0]?.offset ?? from);
        haltAt = { topic, partition, offset, reason: `not applied: ${describe(failure.error)}` };
        // Nothing of the batch was applied: apply what comes before the failing record.
        const before = records.filter((r) => r.offset < offset);
        const prefix =
          offset > from
            ? await withRetries(() =>
                options.handle({
                  topic,
                  partition,
                  records: before,
                  skipped: skipped.filter((s) => s.offset < offset),
                  lastOffset: offset - 1,
                }),
              )
            : { error: undefined, retriable: false };
        covered = prefix ? from - 1 : offset - 1;
      } else if (failure) {
        // Dead-letter: one by one, so only the records that fail leave the log's path.
        for (const record of records) {
          const one = await withRetries(() =>
            options.handle({ topic, partition, records: [record], skipped: [], lastOffset: record.offset }),
          );
          if (one?.error instanceof StopConsuming) {
            abort.abort();
            options.onStopped?.();
            return false;
          }
          if (one?.retriable && redeliverRetriable) {
            redeliver = { error: one.error };
            covered = record.offset - 1;
            break;
          }
          if (one) {
            const message = messages.find((m) => Number(m.offset) === record.offset)!;
            await deadLetter(topic, partition, message, describe(one.error));
          }
        }
      }
      if (covered >= from) {
        next.set(key, covered + 1);
        done += messages.filter((m) => Number(m.offset) <= covered).length;
        observe(
          topic,
          partition,
          records.filter((r) => r.offset <= covered),
          startedAt,
        );
        payload.resolveOffset(String(covered));
      }
    }
    if (haltAt) await halt(haltAt);
    consumerLag.set(
      { group: options.groupId, topic, partition: String(partition) },
      Math.max(0, Number(batch.highWatermark) - 1 - covered),
    );
    if (redeliver) throw redeliver.error;
    await payload.heartbeat();
    return haltAt === undefined;
  }

  /**
   * Pipelined: decodes a slice, waits until the partition's previous batch is done, hands this
   * one over and returns without waiting for it (kafkajs fetches the next batch meanwhile).
   * Answers false when the partition stops here (a rewind, a halt, the consumer stopping).
   */
  async function pipelineRecords(
    payload: EachBatchPayload,
    messages: KafkaMessage[],
    epoch: { partition: number; assignment: number },
  ): Promise<boolean> {
    const decoded = await decodeRecords(payload, messages);
    const { topic, partition, key, from, startedAt, records, skipped, covered } = decoded;
    await tails.get(key);
    if (
      (epochs.get(key) ?? 0) !== epoch.partition ||
      assignmentEpoch !== epoch.assignment ||
      abort.signal.aborted ||
      !payload.isRunning()
    )
      return false; // rewound or reassigned meanwhile: what this batch holds is delivered again
    // An undecodable record (halting) or nothing to hand over: done the serial way.
    if (decoded.haltAt || covered < from) return settle(payload, messages, decoded);
    next.set(key, covered + 1);
    payload.resolveOffset(String(covered));
    const count = messages.filter((m) => Number(m.offset) <= covered).length;
    const highWatermark = Number(payload.batch.highWatermark);
    const whole: ConsumerBatch<T> = { topic, partition, records, skipped, lastOffset: covered };
    const tail = (async () => {
      const failure = await withRetries(() => options.handle(whole), { topic, partition });
      if (!failure) {
        done += count;
        observe(topic, partition, records, startedAt);
        consumerLag.set(
          { group: options.groupId, topic, partition: String(partition) },
          Math.max(0, highWatermark - 1 - covered),
        );
        return;
      }
      if (failure.error instanceof StopConsuming) {
        log.info('stopping', { reason: failure.error.message });
        abort.abort();
        options.onStopped?.();
        return;
      }
      await rewind(topic, partition, covered, failure.error);
    })().catch((error: unknown) => rewind(topic, partition, covered, error));
    tails.set(key, tail);
    inFlight.add(tail);
    void tail.finally(() => inFlight.delete(tail));
    await payload.heartbeat();
    return true;
  }

  /**
   * Pipelined fail-stop: a handed-over batch failed, so Kafka's position (already past it) is
   * wrong. The partition pauses, goes back to where its stores' checkpoints say, and hands the
   * records up to the failed batch's end over serially, as the serial mode would.
   */
  async function rewind(topic: string, partition: number, through: number, error: unknown): Promise<void> {
    const key = partitionKey(topic, partition);
    epochs.set(key, (epochs.get(key) ?? 0) + 1);
    if (abort.signal.aborted) return;
    consumerErrors.inc({ consumer: name, kind: 'rewind' });
    log.warn('a handed-over batch failed: the partition resumes from its checkpoints', {
      topic,
      partition,
      through,
      error,
    });
    consumer.pause([{ topic, partitions: [partition] }]);
    for (let attempt = 1; !abort.signal.aborted; attempt++) {
      try {
        // Never past a record: without a checkpoint, from the start.
        const offset = (await options.startOffset!(topic, partition)) ?? 0;
        if (abort.signal.aborted) return;
        next.set(key, offset);
        serialThrough.set(key, Math.max(serialThrough.get(key) ?? -1, through));
        consumer.seek({ topic, partition, offset: String(offset) });
        break;
      } catch (failure) {
        log.warn('reading where to resume failed; trying again', {
          topic,
          partition,
          attempt,
          error: failure,
        });
        const delay = Math.min(backoff.maxMs, backoff.initialMs * 2 ** (attempt - 1));
        await sleep(delay, undefined, { signal: abort.signal }).catch(() => undefined);
      }
    }
    if (!abort.signal.aborted && !halted.has(key)) consumer.resume([{ topic, partitions: [partition] }]);
  }

  /** A fetched batch in slices of at most `maxRecordsPerBatch` records to hand over. */
  function slicesOf(topic: string, partition: number, messages: KafkaMessage[]): KafkaMessage[][] {
    const most = options.maxRecordsPerBatch;
    if (!most) return [messages];
    const slices: KafkaMessage[][] = [];
    let slice: KafkaMessage[] = [];
    let handed = 0;
    for (const message of messages) {
      slice.push(message);
      const passedOver =
        skip.has(`${partitionKey(topic, partition)}:${message.offset}`) ||
        (options.accept !== undefined && !options.accept(message, topic));
      if (!passedOver && ++handed === most) {
        slices.push(slice);
        slice = [];
        handed = 0;
      }
    }
    if (slice.length > 0) slices.push(slice);
    return slices;
  }

  const runConfig: ConsumerRunConfig = {
    autoCommit: true,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 1,
    eachBatch: async (payload) => {
      const { batch } = payload;
      await ready;
      if (abort.signal.aborted || !payload.isRunning() || payload.isStale()) return;
      const key = partitionKey(batch.topic, batch.partition);
      if (halted.has(key)) return;
      const epoch = { partition: epochs.get(key) ?? 0, assignment: assignmentEpoch };
      const messages = batch.messages.filter((m) => Number(m.offset) >= (next.get(key) ?? 0));
      if (messages.length === 0) return;
      firstBatchAt ??= performance.now();
      for (const slice of slicesOf(batch.topic, batch.partition, messages)) {
        if (abort.signal.aborted || !payload.isRunning() || payload.isStale()) return;
        if (pipelined && (serialThrough.get(key) ?? -1) < Number(slice[0]!.offset)) {
          if (!(await consumeSlice(payload, slice, (p, m) => pipelineRecords(p, m, epoch)))) return;
          continue;
        }
        // Serially (after a rewind in the pipelined mode: once what was handed over is done).
        await tails.get(key);
        if ((epochs.get(key) ?? 0) !== epoch.partition || assignmentEpoch !== epoch.assignment) return;
        if (!(await consumeSlice(payload, slice, consumeRecords))) return;
      }
    },
  };
  await consumer.connect();
  await consumer.subscribe({ topics: [...options.topics], fromBeginning: true });
  await consumer.run(runConfig);

  return {
    get done() {
      return done;
    },
    get firstBatchAt() {
      return firstBatchAt;
    },
    get deadLettered() {
      return deadLettered;
    },
    halted: () => [...halted.values()],
    stop() {
      stopping ??= (async () => {
        abort.abort();
        clearNotReady(readinessKey('crashed'));
        await consumer.disconnect();
        // Pipelined: what was handed over is done (or given up) before the caller moves on.
        await Promise.all(inFlight);
        await producer?.disconnect();
        for (const [key, h] of halted) {
          clearNotReady(readinessKey(key));
          consumerHalted.set({ consumer: name, topic: h.topic, partition: String(h.partition) }, 0);
        }
      })();
      return stopping;
    },
  };
}
