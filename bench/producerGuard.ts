/**
 * What the producer guard (platform/src/kafka.ts, `guardProducer`: every record's partition
 * must be in the brokers' answer, issue #21) costs the outbox relay's path: records/s of a
 * guarded producer (`createKafka`'s) against a bare kafkajs producer with the same settings
 * (idempotent, acks=all, one batch in flight, the relay's 500-record batches), same broker,
 * same records, rounds alternating which goes first. The bare producer is the limit.
 *   npx tsx bench/producerGuard.ts [records per round=20000] [rounds=4]
 */
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type Message, type Producer } from 'kafkajs';
import { loadConfig } from '@deeplens/platform/config';
import { randomUUID } from '@deeplens/platform/ids';
import { createKafka } from '@deeplens/platform/kafka';
import { createTestTopics, uniqueName } from '@deeplens/platform/testing/testTopics';
import { scope } from './benchSupport.ts';

const perRound = Number(process.argv[2] ?? 20_000);
const rounds = Number(process.argv[3] ?? 4);
const relayBatch = 500;

const s = scope();
try {
  const config = loadConfig();
  const guarded = createKafka(config, 'bench-producer-guard');
  const bare = new Kafka({
    clientId: 'bench-producer-bare',
    brokers: config.KAFKA_BROKERS,
    logLevel: logLevel.ERROR,
    retry: { initialRetryTime: 100, retries: 8 },
  });
  const topic = uniqueName('bench.guard');
  await createTestTopics(s, guarded, [{ topic, partitions: 6 }]);
  const producers: Record<'guarded' | 'bare', Producer> = {
    guarded: guarded.producer({ idempotent: true, maxInFlightRequests: 1 }),
    bare: bare.producer({ idempotent: true, maxInFlightRequests: 1 }),
  };
  for (const producer of Object.values(producers)) {
    await producer.connect();
    s.after(() => producer.disconnect());
  }
  // The size of a retag event framed by the serde (~200 bytes), keyed by aggregate like the outbox.
  const records = (): Message[] =>
    Array.from({ length: perRound }, () => ({
      key: randomUUID(),
      value: randomBytes(200),
      headers: { 'event-type': 'ImageMetadataUpdated', 'event-id': randomUUID() },
    }));
  // Wall time, and this process's CPU time (less sensitive to the other work on a shared machine).
  const produce = async (producer: Producer, messages: Message[]): Promise<{ wall: number; cpu: number }> => {
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    for (let i = 0; i < messages.length; i += relayBatch)
      await producer.sendBatch({
        acks: -1,
        topicMessages: [{ topic, messages: messages.slice(i, i + relayBatch) }],
      });
    const cpu = process.cpuUsage(cpuStart);
    return { wall: (performance.now() - start) / 1000, cpu: (cpu.user + cpu.system) / 1e6 };
  };
  await produce(producers.guarded, records().slice(0, 5000));
  await produce(producers.bare, records().slice(0, 5000));

  const seconds = { guarded: 0, bare: 0 };
  const cpu = { guarded: 0, bare: 0 };
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? (['guarded', 'bare'] as const) : (['bare', 'guarded'] as const);
    for (const which of order) {
      const took = await produce(producers[which], records());
      seconds[which] += took.wall;
      cpu[which] += took.cpu;
    }
  }
  const total = perRound * rounds;
  const guardedRate = total / seconds.guarded;
  const bareRate = total / seconds.bare;
  const usPerRecord = (which: 'guarded' | 'bare') => ((cpu[which] / total) * 1e6).toFixed(1);
  console.log(
    [
      `producer guard: ${rounds} rounds of ${perRound} records, ${relayBatch}-record batches, ${config.KAFKA_BROKERS.join(',')}`,
      `  guarded (createKafka) ${guardedRate.toFixed(0)} records/s`,
      `  bare kafkajs (limit)  ${bareRate.toFixed(0)} records/s`,
      `  ratio guarded / bare  ${(guardedRate / bareRate).toFixed(3)}`,
      `  client CPU per record: guarded ${usPerRecord('guarded')} µs, bare ${usPerRecord('bare')} µs, ratio ${(cpu.guarded / cpu.bare).toFixed(3)}`,
    ].join('\n'),
  );
} finally {
  await s.close();
}
