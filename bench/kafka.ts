/**
 * The Kafka path: our producer (kafkajs, idempotent, acks=all, one batch in flight — as the
 * outbox relay produces) and our consumer (kafkajs with the projectors' fetch settings,
 * decoding every record through our serde) in records/s and MB/s, next to Kafka's own
 * `ProducerPerformance` / `ConsumerPerformance` from the same Kafka release, against the same
 * broker, with the same record size and count.
 *   npx tsx bench/kafka.ts [records=200000] [partitions=6]
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Message } from 'kafkajs';
import { encodeEvent } from '@deeplens/events/eventCodec';
import { createEventSerde, registrySchemaStore } from '@deeplens/events/eventSerde';
import type { EventOfType } from '@deeplens/events/domainEvent';
import { sampleEvents } from '@deeplens/events/testing/sampleEvents';
import { loadConfig } from '@deeplens/platform/config';
import { randomUUID } from '@deeplens/platform/ids';
import { createKafka } from '@deeplens/platform/kafka';
import { createSchemaRegistry } from '@deeplens/platform/schemaRegistry';
import { createTestTopics, uniqueName } from '@deeplens/platform/testing/testTopics';
import { createStackContext, findJava, mavenCopy, versions } from '@deeplens/stack/stackContext';
import { ownCpuSeconds, report, scope, type Row } from './benchSupport.ts';

const count = Number(process.argv[2] ?? 200_000);
const partitions = Number(process.argv[3] ?? 6);
const relayBatch = 500;
const run = promisify(execFile);

/** Kafka's tools jar (and its dependencies) from Maven Central, cached beside the stack's Kafka. */
function kafkaToolsClasspath(): string {
  const context = createStackContext();
  const dir = join(context.cacheDir, `kafka-tools-${versions.kafka}`);
  if (!existsSync(join(dir, `kafka-tools-${versions.kafka}.jar`))) {
    mavenCopy(
      context,
      'kafka-tools',
      [{ groupId: 'org.apache.kafka', artifactId: 'kafka-tools', version: versions.kafka }],
      dir,
    );
  }
  return join(dir, '*');
}

/** A realistic event per record: a retag (the smallest frequent image event), fresh ids each time. */
function retagEvent(): EventOfType<'ImageMetadataUpdated'> {
  const sample = sampleEvents.ImageMetadataUpdated;
  const imageId = randomUUID();
  return {
    ...sample,
    data: { ...sample.data, imageId, tags: ['holiday'], attributes: {} },
    metadata: {
      ...sample.metadata,
      eventId: randomUUID(),
      aggregateId: imageId,
      correlationId: randomUUID(),
    },
  };
}

const mb = (bytes: number, seconds: number) => bytes / 2 ** 20 / seconds;

const s = scope();
try {
  const config = loadConfig();
  const brokers = config.KAFKA_BROKERS.join(',');
  const classpath = kafkaToolsClasspath();
  const java = findJava();
  const kafka = createKafka(config, 'bench-kafka');
  const ours = uniqueName('bench.kafka.deeplens');
  const theirs = uniqueName('bench.kafka.tool');
  await createTestTopics(s, kafka, [
    { topic: ours, partitions },
    { topic: theirs, partitions },
  ]);
  const serde = createEventSerde(
    registrySchemaStore(createSchemaRegistry(config), config.SCHEMA_REGISTRY_URL),
  );

  const toMessage = async (): Promise<Message> => {
    const event = retagEvent();
    return {
      key: event.metadata.aggregateId,
      value: await serde.frameEncoded(event.type, encodeEvent(event)),
      headers: { 'event-type': event.type, 'event-id': event.metadata.eventId },
    };
  };
  const sample = await toMessage();
  const valueBytes = (sample.value as Buffer).length;
  const keyBytes = Buffer.byteLength(sample.key as string);

  // Encoding alone, for the share of the producer's time it takes.
  const encodeStart = performance.now();
  for (let i = 0; i < 20_000; i++) await toMessage();
  const encodePerSecond = 20_000 / ((performance.now() - encodeStart) / 1000);

  // Our producer, as the relay produces: encode a batch, send it with acks=all, wait, repeat.
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  s.after(() => producer.disconnect());
  const produce = async (topic: string, n: number) => {
    for (let sent = 0; sent < n; sent += relayBatch) {
      const messages: Message[] = [];
      for (let i = sent; i < Math.min(n, sent + relayBatch); i++) messages.push(await toMessage());
      await producer.sendBatch({ acks: -1, topicMessages: [{ topic, messages }] });
    }
  };
  const warmupTopic = uniqueName('bench.kafka.warmup');
  await createTestTopics(s, kafka, [{ topic: warmupTopic, partitions }]);
  await produce(warmupTopic, 10_000);
  const cpuBefore = ownCpuSeconds();
  const produceStart = performance.now();
  await produce(ours, count);
  const produceSeconds = (performance.now() - produceStart) / 1000;
  const produceCpu = ownCpuSeconds() - cpuBefore;

  // Kafka's producer, same broker, record size and count; idempotent, acks=all, one request in flight.
  const producerTool = await run(
    java,
    [
      '-cp',
      classpath,
      'org.apache.kafka.tools.ProducerPerformance',
      '--topic',
      theirs,
      '--num-records',
      String(count),
      '--record-size',
      String(valueBytes),
      '--throughput',
      '-1',
      '--producer-props',
      `bootstrap.servers=${brokers}`,
      'acks=all',
      'enable.idempotence=true',
      'max.in.flight.requests.per.connection=1',
    ],
    { maxBuffer: 16 * 2 ** 20 },
  );
  const producerLine = producerTool.stdout.split('\n').find((l) => l.includes(`${count} records sent`));
  const toolProduced = /records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\)/.exec(producerLine ?? '');
  if (!toolProduced) throw new Error(`unexpected ProducerPerformance output:\n${producerTool.stdout}`);
  const toolProducePerSecond = Number(toolProduced[1]);
  const toolProduceMb = Number(toolProduced[2]);

  // Our consumer, with the projectors' fetch settings, over the records we produced.
  const consume = async (decode: boolean) => {
    const consumer = kafka.consumer({
      groupId: uniqueName('bench-kafka'),
      maxWaitTimeInMs: 250,
      maxBytesPerPartition: 4 * 2 ** 20,
      maxBytes: 32 * 2 ** 20,
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [ours], fromBeginning: true });
    let received = 0;
    let bytes = 0;
    let first = 0;
    let done: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (done = resolve));
    const cpuStart = ownCpuSeconds();
    await consumer.run({
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch }) => {
        first ||= performance.now();
        for (const message of batch.messages) {
          if (decode) await serde.decodeEvent(message.value!);
          bytes += (message.key?.length ?? 0) + (message.value?.length ?? 0);
        }
        received += batch.messages.length;
        if (received >= count) done();
      },
    });
    await finished;
    const seconds = (performance.now() - first) / 1000;
    const cpu = ownCpuSeconds() - cpuStart;
    await consumer.disconnect();
    return { perSecond: received / seconds, mbPerSecond: mb(bytes, seconds), cpu };
  };
  const consumedRaw = await consume(false);
  const consumedDecoded = await consume(true);

  // Kafka's consumer over the same records (same topic, same bytes).
  const consumerTool = await run(
    java,
    [
      '-cp',
      classpath,
      'org.apache.kafka.tools.ConsumerPerformance',
      '--bootstrap-server',
      brokers,
      '--topic',
      ours,
      '--messages',
      String(count),
      '--group',
      uniqueName('bench-kafka-tool'),
      '--timeout',
      '60000',
      '--fetch-size',
      String(4 * 2 ** 20),
    ],
    { maxBuffer: 16 * 2 ** 20 },
  );
  // start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec,
  // rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
  const consumerFields = consumerTool.stdout
    .trim()
    .split('\n')
    .at(-1)
    ?.split(',')
    .map((f) => f.trim());
  const toolConsumeMb = Number(consumerFields?.[8]);
  const toolConsumePerSecond = Number(consumerFields?.[9]);
  if (!Number.isFinite(toolConsumePerSecond))
    throw new Error(`unexpected ConsumerPerformance output:\n${consumerTool.stdout}`);

  const producedPerSecond = count / produceSeconds;
  const rows: Row[] = [
    {
      measure: 'produce: kafkajs via our serde (idempotent, acks=all, 500-record batches, one in flight)',
      value: `${producedPerSecond.toFixed(0)} rec/s · ${mb(count * valueBytes, produceSeconds).toFixed(1)} MB/s`,
      limit: `${toolProducePerSecond.toFixed(0)} rec/s · ${toolProduceMb.toFixed(1)} MB/s`,
      ratio: (producedPerSecond / toolProducePerSecond).toFixed(2),
      bar: 'informative',
    },
    {
      measure: 'produce: CPU per record in the producing process',
      value: `${((1e6 * produceCpu) / count).toFixed(1)} µs`,
      ratio: `encoding alone: ${encodePerSecond.toFixed(0)} rec/s (${(1e6 / encodePerSecond).toFixed(1)} µs/rec)`,
    },
    {
      measure: 'consume: kafkajs, projector fetch settings, records not decoded',
      value: `${consumedRaw.perSecond.toFixed(0)} rec/s · ${consumedRaw.mbPerSecond.toFixed(1)} MB/s`,
      limit: `${toolConsumePerSecond.toFixed(0)} rec/s · ${toolConsumeMb.toFixed(1)} MB/s`,
      ratio: (consumedRaw.perSecond / toolConsumePerSecond).toFixed(2),
      bar: 'informative',
    },
    {
      measure: 'consume: kafkajs + every record decoded by our serde (as the projectors do)',
      value: `${consumedDecoded.perSecond.toFixed(0)} rec/s · ${consumedDecoded.mbPerSecond.toFixed(1)} MB/s`,
      limit: `${toolConsumePerSecond.toFixed(0)} rec/s · ${toolConsumeMb.toFixed(1)} MB/s`,
      ratio: (consumedDecoded.perSecond / toolConsumePerSecond).toFixed(2),
      bar: 'informative',
    },
    {
      measure: 'consume: CPU per record in the consuming process, not decoded / decoded',
      value: `${((1e6 * consumedRaw.cpu) / count).toFixed(1)} µs / ${((1e6 * consumedDecoded.cpu) / count).toFixed(1)} µs`,
    },
  ];
  await report(
    `Kafka path (${count} records of ${valueBytes} B + ${keyBytes} B key, ${partitions} partitions, one broker)`,
    rows,
    [
      `Limits: \`org.apache.kafka.tools.ProducerPerformance\` / \`ConsumerPerformance\` from \`kafka-tools-${versions.kafka}\` (Maven Central, cached in \`.stack/cache\`), same broker (${brokers}), same record count; the producer tool sends ${valueBytes}-byte values (random bytes, no key or headers) with acks=all, enable.idempotence=true, max.in.flight.requests.per.connection=1 and its default batching (batch.size 16 KiB, linger 5 ms); the consumer tool reads the very records our producer wrote, with the projectors' 4 MiB per-partition fetch size. Consumer figures exclude the group join on both sides (the tool's fetch.* columns; ours from the first batch). MB = 2^20 bytes of key + value for consumers, of value for producers.`,
      `Records: real \`ImageMetadataUpdated\` events (fresh ids each), Avro through \`encodeEvent\` + the registry framing (\`serde.frameEncoded\`, as the relay does), keyed by image id, with the relay's two headers. DeepLens's image events are 300–500 B (UUID metadata), so ~200 B is not reachable with real events; the Java tool gets the same size.`,
      'Broker, benchmark and JVM share the 2 cores, with other engineers’ tests running.',
    ],
  );
} finally {
  await s.close();
}
