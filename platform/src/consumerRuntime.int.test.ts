import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it, type TestContext } from 'node:test';
import kafkajs, { type Kafka } from 'kafkajs';
import { loadConfig } from './config.ts';
import {
  RecordFailedError,
  startConsumerRuntime,
  type ConsumerBatch,
  type ConsumerRuntimeOptions,
} from './consumerRuntime.ts';
import { createKafka } from './kafka.ts';
import { createLogger } from './logger.ts';
import { metricsRegistry } from './metrics.ts';
import { readiness } from './readiness.ts';
import { createTestTopics, uniqueName } from './testing/testTopics.ts';

type Item = { n: number; fail?: 'retriable' | 'permanent' };

const log = createLogger({ test: 'consumerRuntime' }, 'error');

async function produce(kafka: Kafka, t: TestContext, topic: string, values: string[]) {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  t.after(() => producer.disconnect());
  await producer.send({ topic, acks: -1, messages: values.map((value) => ({ key: 'k', value })) });
}

async function committedOffset(kafka: Kafka, groupId: string, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return Number(entry?.partitions[0]?.offset ?? -1);
  } finally {
    await admin.disconnect();
  }
}

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function runtimeOptions(
  kafka: Kafka,
  topic: string,
  groupId: string,
  handle: (batch: ConsumerBatch<Item>) => Promise<void>,
): ConsumerRuntimeOptions<Item> {
  return {
    name: groupId,
    kafka,
    groupId,
    topics: [topic],
    log,
    decode: async (value) => {
      const text = value.toString();
      if (!text.startsWith('{')) throw new Error(`not JSON: ${text}`);
      return JSON.parse(text) as Item;
    },
    handle,
    onFailure: 'halt',
    backoff: { initialMs: 20, maxMs: 100 },
    sessionTimeoutMs: 6000,
  };
}

describe('consumer runtime against the stack broker', () => {
  it('retries a retriable failure with backoff and dead-letters a record that cannot be applied, with its reason', async (t) => {
    const kafka = createKafka(loadConfig());
    const topic = uniqueName('runtime-dlq');
    const dlq = `${topic}.dlq`;
    const groupId = uniqueName('runtime-dlq-group');
    await createTestTopics(t, kafka, [
      { topic, partitions: 1 },
      { topic: dlq, partitions: 1 },
    ]);
    await produce(kafka, t, topic, [
      JSON.stringify({ n: 0 }),
      JSON.stringify({ n: 1, fail: 'retriable' }),
      JSON.stringify({ n: 2, fail: 'permanent' }),
      JSON.stringify({ n: 3 }),
    ]);
    const applied: number[] = [];
    const attempts = new Map<number, number>();
    const runtime = await startConsumerRuntime({
      ...runtimeOptions(kafka, topic, groupId, async (batch) => {
        for (const { value } of batch.records) {
          attempts.set(value.n, (attempts.get(value.n) ?? 0) + 1);
          // The store is down for the first two attempts at record 1.
          if (value.fail === 'retriable' && attempts.get(value.n)! < 3)
            throw Object.assign(new Error('store unavailable'), { retriable: true });
          if (value.fail === 'permanent') throw new Error(`record ${value.n} is refused`);
        }
        applied.push(...batch.records.map((r) => r.value.n));
      }),
      onFailure: 'dead-letter',
      deadLetterTopic: dlq,
    });
    t.after(() => runtime.stop());

    await until('every record done', async () => (await committedOffset(kafka, groupId, topic)) === 4);
    assert.deepEqual([...new Set(applied)].sort(), [0, 1, 3], 'the refused record was not applied');
    assert.ok(attempts.get(1)! >= 3, 'the retriable failure was retried until it worked');

    const dead: { value: string; headers: Record<string, string> }[] = [];
    const reader = kafka.consumer({ groupId: uniqueName('runtime-dlq-reader') });
    await reader.connect();
    t.after(() => reader.disconnect());
    await reader.subscribe({ topic: dlq, fromBeginning: true });
    await reader.run({
      eachMessage: async ({ message }) => {
        dead.push({
          value: message.value!.toString(),
          headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])),
        });
      },
    });
    await until('the dead letter', () => dead.length >= 1);
    assert.equal(dead.length, 1);
    assert.equal((JSON.parse(dead[0]!.value) as Item).n, 2);
    assert.match(dead[0]!.headers['dlq-reason']!, /record 2 is refused/);
    assert.equal(dead[0]!.headers['dlq-source'], `${topic}:0:2`);
    assert.equal(dead[0]!.headers['dlq-consumer'], groupId);
  });

  it('halts the partition at an undecodable record: nothing after it applied, not ready with the offset, a metric; an explicit --skip passes it', async (t) => {
    const kafka = createKafka(loadConfig());
    const topic = uniqueName('runtime-halt');
    const groupId = uniqueName('runtime-halt-group');
    await createTestTopics(t, kafka, [{ topic, partitions: 1 }]);
    await produce(kafka, t, topic, [
      JSON.stringify({ n: 0 }),
      JSON.stringify({ n: 1 }),
      'garbage',
      JSON.stringify({ n: 3 }),
    ]);
    const applied: number[] = [];
    const handle = async (batch: ConsumerBatch<Item>) => {
      applied.push(...batch.records.map((r) => r.value.n));
    };
    const runtime = await startConsumerRuntime(runtimeOptions(kafka, topic, groupId, handle));
    let stopped = false;
    t.after(() => (stopped ? undefined : runtime.stop()));

    await until('the halt', () => runtime.halted().length === 1);
    assert.deepEqual(runtime.halted()[0], {
      topic,
      partition: 0,
      offset: 2,
      reason: 'undecodable: Error: not JSON: garbage',
    });
    const report = readiness();
    assert.equal(report.ready, false);
    assert.ok(report.reasons.some((r) => r.topic === topic && r.partition === 0 && r.offset === 2));
    const metrics = await metricsRegistry.metrics();
    assert.match(
      metrics,
      new RegExp(`deeplens_consumer_halted\\{consumer="${groupId}",topic="${topic}",partition="0"\\} 1`),
    );
    await sleep(1500);
    assert.deepEqual(applied, [0, 1], 'the records before it applied, none after it');
    assert.equal(await committedOffset(kafka, groupId, topic), 2, 'committed up to the halted record');
    await runtime.stop();
    stopped = true;
    assert.ok(!readiness().reasons.some((r) => r.topic === topic), 'a stopped consumer reports nothing');

    // A restart without a skip halts again at the same record.
    const again = await startConsumerRuntime(runtimeOptions(kafka, topic, groupId, handle));
    await until('the halt after a restart', () => again.halted().length === 1);
    assert.equal(again.halted()[0]!.offset, 2);
    await again.stop();

    // The operator skips it: the handler is told, and the rest is applied.
    const skipped: number[] = [];
    const skipping = await startConsumerRuntime({
      ...runtimeOptions(kafka, topic, groupId, async (batch) => {
        skipped.push(...batch.skipped.map((s) => s.offset));
        await handle(batch);
      }),
      skip: [`${topic}:0:2`],
    });
    t.after(() => skipping.stop());
    await until('the record after the skipped one', () => applied.includes(3));
    assert.deepEqual(skipped, [2]);
    assert.deepEqual(applied, [0, 1, 3]);
    assert.deepEqual(skipping.halted(), []);
  });

  it('halts at the record a handler names as not applicable, after applying those before it', async (t) => {
    const kafka = createKafka(loadConfig());
    const topic = uniqueName('runtime-apply');
    const groupId = uniqueName('runtime-apply-group');
    await createTestTopics(t, kafka, [{ topic, partitions: 1 }]);
    await produce(
      kafka,
      t,
      topic,
      [0, 1, 2, 3, 4].map((n) => JSON.stringify(n === 3 ? { n, fail: 'permanent' } : { n })),
    );
    const applied: number[] = [];
    const runtime = await startConsumerRuntime(
      runtimeOptions(kafka, topic, groupId, async (batch) => {
        // All or nothing, like a transaction.
        const bad = batch.records.find((r) => r.value.fail === 'permanent');
        if (bad) throw new RecordFailedError(`record ${bad.value.n} breaks an invariant`, bad.offset);
        applied.push(...batch.records.map((r) => r.value.n));
      }),
    );
    t.after(() => runtime.stop());
    await until('the halt', () => runtime.halted().length === 1);
    assert.equal(runtime.halted()[0]!.offset, 3);
    assert.match(
      runtime.halted()[0]!.reason,
      /^not applied: RecordFailedError: record 3 breaks an invariant/,
    );
    await sleep(1000);
    assert.deepEqual(applied, [0, 1, 2]);
    assert.equal(await committedOffset(kafka, groupId, topic), 3);
  });

  it('gives a record whose dependency stays down back to Kafka instead of dead-lettering it (whenRetriesRunOut: redeliver)', async (t) => {
    const kafka = createKafka(loadConfig());
    const topic = uniqueName('runtime-redeliver');
    const dlq = `${topic}.dlq`;
    const groupId = uniqueName('runtime-redeliver-group');
    await createTestTopics(t, kafka, [
      { topic, partitions: 1 },
      { topic: dlq, partitions: 1 },
    ]);
    await produce(kafka, t, topic, [
      JSON.stringify({ n: 0, fail: 'permanent' }),
      JSON.stringify({ n: 1 }),
      JSON.stringify({ n: 2, fail: 'retriable' }),
      JSON.stringify({ n: 3 }),
    ]);
    const applied: number[] = [];
    let attemptsAt2 = 0;
    const runtime = await startConsumerRuntime({
      ...runtimeOptions(kafka, topic, groupId, async (batch) => {
        for (const { value } of batch.records) {
          if (value.fail === 'permanent') throw new Error(`record ${value.n} is refused`);
          // The store stays down for more attempts than one delivery makes (maxAttempts 2).
          if (value.fail === 'retriable' && ++attemptsAt2 < 5)
            throw Object.assign(new Error('store unavailable'), { retriable: true });
        }
        applied.push(...batch.records.map((r) => r.value.n));
      }),
      onFailure: 'dead-letter',
      deadLetterTopic: dlq,
      maxAttempts: 2,
      whenRetriesRunOut: 'redeliver',
    });
    t.after(() => runtime.stop());

    await until(
      'every record done',
      async () => (await committedOffset(kafka, groupId, topic)) === 4,
      60_000,
    );
    assert.ok(attemptsAt2 >= 5, 'record 2 was delivered again after its attempts ran out');
    assert.deepEqual([...new Set(applied)].sort(), [1, 2, 3]);
    assert.equal(applied.filter((n) => n === 1).length, 1, 'what preceded the failing record was not redone');
    const dlqAdmin = kafka.admin();
    await dlqAdmin.connect();
    t.after(() => dlqAdmin.disconnect());
    const [end] = await dlqAdmin.fetchTopicOffsets(dlq);
    assert.equal(Number(end?.high), 1, 'only the refused record was dead-lettered, once');
  });

  it('hands a fetched batch over in slices of maxRecordsPerBatch; an undecodable record dead-lettered before a redelivered one is not dead-lettered again', async (t) => {
    const kafka = createKafka(loadConfig());
    const topic = uniqueName('runtime-slices');
    const dlq = `${topic}.dlq`;
    const groupId = uniqueName('runtime-slices-group');
    await createTestTopics(t, kafka, [
      { topic, partitions: 1 },
      { topic: dlq, partitions: 1 },
    ]);
    await produce(kafka, t, topic, [
      'not JSON',
      JSON.stringify({ n: 0, fail: 'retriable' }),
      ...[1, 2, 3, 4].map((n) => JSON.stringify({ n })),
    ]);
    const handed: number[][] = [];
    let attemptsAt0 = 0;
    const runtime = await startConsumerRuntime({
      ...runtimeOptions(kafka, topic, groupId, async (batch) => {
        // The store stays down for more attempts than one delivery makes (maxAttempts 2).
        if (batch.records.some((r) => r.value.fail === 'retriable') && ++attemptsAt0 < 4)
          throw Object.assign(new Error('store unavailable'), { retriable: true });
        handed.push(batch.records.map((r) => r.value.n));
      }),
      onFailure: 'dead-letter',
      onUndecodable: 'dead-letter',
      deadLetterTopic: dlq,
      maxAttempts: 2,
      whenRetriesRunOut: 'redeliver',
      maxRecordsPerBatch: 2,
    });
    t.after(() => runtime.stop());

    await until(
      'every record done',
      async () => (await committedOffset(kafka, groupId, topic)) === 6,
      60_000,
    );
    assert.ok(attemptsAt0 >= 4, 'record 0 was delivered again after its attempts ran out');
    assert.deepEqual(handed.flat().sort(), [0, 1, 2, 3, 4], 'each record applied once');
    assert.ok(
      handed.every((records) => records.length <= 2),
      `at most 2 records at once: ${JSON.stringify(handed)}`,
    );
    assert.equal(runtime.deadLettered, 1);
    const dlqAdmin = kafka.admin();
    await dlqAdmin.connect();
    t.after(() => dlqAdmin.disconnect());
    const [end] = await dlqAdmin.fetchTopicOffsets(dlq);
    assert.equal(Number(end?.high), 1, 'the undecodable record was dead-lettered once');
  });
  describe('pipelined (the next batch fetched and decoded while the previous one is applied)', () => {
    /** A store applying batches with a checkpoint, as a projection does: what it has, it skips. */
    function checkpointedStore(failAt: { n: number; kind: 'retriable' | 'permanent'; times: number }) {
      const store = {
        checkpoint: -1,
        applied: [] as number[],
        handling: 0,
        overlapped: false,
        concurrent: false,
        startOffsetCalls: 0,
        failures: 0,
      };
      const options = (kafka: Kafka, topic: string, groupId: string): ConsumerRuntimeOptions<Item> => {
        const base = runtimeOptions(kafka, topic, groupId, async (batch) => {
          if (store.handling > 0) store.concurrent = true;
          store.handling++;
          try {
            // Long enough for the next fetch and decode to happen meanwhile.
            await sleep(40);
            const fresh = batch.records.filter((r) => r.offset > store.checkpoint);
            const bad = fresh.find((r) => r.value.n === failAt.n);
            if (bad && store.failures < failAt.times) {
              store.failures++;
              if (failAt.kind === 'retriable')
                throw Object.assign(new Error('store unavailable'), { retriable: true });
              throw new RecordFailedError(`record ${bad.value.n} breaks an invariant`, bad.offset);
            }
            store.applied.push(...fresh.map((r) => r.value.n));
            store.checkpoint = Math.max(store.checkpoint, batch.lastOffset);
          } finally {
            store.handling--;
          }
        });
        return {
          ...base,
          decode: async (value, message, topicName) => {
            if (store.handling > 0) store.overlapped = true;
            return base.decode(value, message, topicName);
          },
          startOffset: async () => {
            store.startOffsetCalls++;
            return store.checkpoint + 1;
          },
          pipelined: true,
          maxAttempts: 2,
          maxRecordsPerBatch: 3,
        };
      };
      return { store, options };
    }

    async function produceInSends(kafka: Kafka, t: TestContext, topic: string, count: number) {
      // Several sends: several record batches, so fetches and slices follow one another.
      for (let from = 0; from < count; from += 5) {
        const values = Array.from({ length: Math.min(5, count - from) }, (_, i) =>
          JSON.stringify({ n: from + i }),
        );
        await produce(kafka, t, topic, values);
      }
    }

    it('applies every record once and in order, one batch of a partition at a time, decoding the next meanwhile; a batch failing after it was handed over rewinds to the checkpoint', async (t) => {
      const kafka = createKafka(loadConfig());
      const topic = uniqueName('runtime-pipelined');
      const groupId = uniqueName('runtime-pipelined-group');
      await createTestTopics(t, kafka, [{ topic, partitions: 1 }]);
      await produceInSends(kafka, t, topic, 40);
      // Record 17's store stays down for more attempts than one hand-over makes (maxAttempts 2).
      const { store, options } = checkpointedStore({ n: 17, kind: 'retriable', times: 3 });
      const runtime = await startConsumerRuntime(options(kafka, topic, groupId));
      t.after(() => runtime.stop());

      await until('every record applied', () => store.checkpoint === 39, 60_000);
      assert.deepEqual(
        store.applied,
        Array.from({ length: 40 }, (_, n) => n),
      );
      assert.equal(store.failures, 3, 'record 17 failed until its store came back');
      assert.ok(store.startOffsetCalls >= 2, 'the failed hand-over resumed from the checkpoint');
      assert.ok(store.overlapped, 'records were decoded while a batch was being applied');
      assert.equal(store.concurrent, false, 'never two batches of the partition applied at once');
      assert.deepEqual(runtime.halted(), []);
      await until('the committed offset', async () => (await committedOffset(kafka, groupId, topic)) === 40);
    });

    it('halts at a record that cannot be applied: those before it applied, none after, even those already fetched', async (t) => {
      const kafka = createKafka(loadConfig());
      const topic = uniqueName('runtime-pipelined-halt');
      const groupId = uniqueName('runtime-pipelined-halt-group');
      await createTestTopics(t, kafka, [{ topic, partitions: 1 }]);
      await produceInSends(kafka, t, topic, 30);
      const { store, options } = checkpointedStore({ n: 13, kind: 'permanent', times: Infinity });
      const runtime = await startConsumerRuntime(options(kafka, topic, groupId));
      t.after(() => runtime.stop());

      await until('the halt', () => runtime.halted().length === 1, 60_000);
      assert.equal(runtime.halted()[0]!.offset, 13);
      assert.match(runtime.halted()[0]!.reason, /record 13 breaks an invariant/);
      await sleep(1000);
      assert.deepEqual(
        store.applied,
        Array.from({ length: 13 }, (_, n) => n),
      );
      assert.equal(store.concurrent, false);
      assert.equal(await committedOffset(kafka, groupId, topic), 13);
    });

    it("refuses to start without the stores' checkpoints, or with dead-lettering", async () => {
      const kafka = createKafka(loadConfig());
      const base = { ...runtimeOptions(kafka, 'unused', 'unused', async () => undefined), pipelined: true };
      await assert.rejects(startConsumerRuntime(base), /needs startOffset/);
      await assert.rejects(
        startConsumerRuntime({
          ...base,
          startOffset: async () => 0,
          onFailure: 'dead-letter',
          deadLetterTopic: 'unused.dlq',
        }),
        /consumers that halt/,
      );
    });
  });

  it('restarts its consumer after a crash kafkajs does not restart from: not ready meanwhile, then every record applied', async (t) => {
    const kafka = createKafka(loadConfig());
    const topic = uniqueName('runtime-crash');
    const groupId = uniqueName('runtime-crash-group');
    await createTestTopics(t, kafka, [{ topic, partitions: 1 }]);
    await produce(kafka, t, topic, [JSON.stringify({ n: 0 }), JSON.stringify({ n: 1 })]);
    const applied: number[] = [];
    let crashes = 0;
    let notReadyWhileCrashed = false;
    const runtime = await startConsumerRuntime({
      ...runtimeOptions(kafka, topic, groupId, async (batch) => {
        if (batch.records.some((r) => r.value.n === 1) && crashes === 0) {
          crashes++;
          throw new Error('the first delivery of record 1 fails');
        }
        notReadyWhileCrashed ||= readiness().reasons.some(
          (r) => r.component === `consumer ${groupId} crashed`,
        );
        applied.push(...batch.records.map((r) => r.value.n));
      }),
      // What escapes the runtime's own handling is, for kafkajs, a crash it does not restart
      // from — as a group coordinator not found while a broker restarts is (seen in the
      // service-fault suite: the embedder's consumer stopped for good while its process lived).
      isRetriable: () => {
        throw new kafkajs.KafkaJSNonRetriableError('the kind of crash kafkajs does not restart from');
      },
    });
    t.after(() => runtime.stop());

    await until(
      'both records applied after the restart',
      () => {
        notReadyWhileCrashed ||= readiness().reasons.some(
          (r) => r.component === `consumer ${groupId} crashed`,
        );
        return applied.includes(1);
      },
      60_000,
    );
    assert.equal(crashes, 1);
    assert.ok(notReadyWhileCrashed, 'the process was not ready while its consumer was crashed');
    await until(
      'ready again',
      () => !readiness().reasons.some((r) => r.component === `consumer ${groupId} crashed`),
    );
    await until('the offset committed', async () => (await committedOffset(kafka, groupId, topic)) === 2);
    const crashMetric = await metricsRegistry.getSingleMetric('deeplens_consumer_errors_total')?.get();
    const crashCount = crashMetric?.values.find(
      (v) => v.labels.consumer === groupId && v.labels.kind === 'crash',
    )?.value;
    assert.equal(crashCount, 1, 'one crash counted');
  });
});
