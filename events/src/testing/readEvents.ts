import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import type { DeepLensEvent } from '../domainEvent.ts';
import type { EventSerde } from '../eventSerde.ts';

export type TopicOffsets = { partition: number; offset: string }[];

/** The current end of each partition of `topic`: where a test's own records will start. */
export async function endOffsets(kafka: Kafka, topic: string): Promise<TopicOffsets> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    // Right after a topic is created its partitions may still be electing leaders.
    for (let attempt = 1; ; attempt++) {
      try {
        return (await admin.fetchTopicOffsets(topic)).map((p) => ({
          partition: p.partition,
          offset: p.offset,
        }));
      } catch (error) {
        if (attempt >= 20 || !(error as { retriable?: boolean }).retriable) throw error;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  } finally {
    await admin.disconnect();
  }
}

export type ReadEvent = { event: DeepLensEvent; partition: number; offset: string; key: string };

/**
 * Reads `topic` from `from` with a throw-away consumer group, decoding with the serde, keeping
 * the events `keep` selects, until `done` says so or `timeoutMs` passes (then it rejects).
 */
export async function readEvents(
  kafka: Kafka,
  serde: EventSerde,
  topic: string,
  from: TopicOffsets,
  options: {
    keep: (event: DeepLensEvent) => boolean;
    done: (events: ReadEvent[]) => boolean;
    timeoutMs: number;
  },
): Promise<ReadEvent[]> {
  const consumer = kafka.consumer({ groupId: `test-reader-${randomUUID()}`, maxWaitTimeInMs: 200 });
  await consumer.connect();
  const events: ReadEvent[] = [];
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out reading ${topic}: ${events.length} events kept`)),
        options.timeoutMs,
      );
      consumer.on(consumer.events.GROUP_JOIN, () => {
        for (const { partition, offset } of from) consumer.seek({ topic, partition, offset });
      });
      void consumer.run({
        eachBatch: async ({ batch }) => {
          for (const message of batch.messages) {
            const event = await serde.decodeEvent(message.value!);
            if (options.keep(event)) {
              events.push({
                event,
                partition: batch.partition,
                offset: message.offset,
                key: message.key!.toString(),
              });
            }
          }
          if (options.done(events)) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    return events;
  } finally {
    await consumer.disconnect();
  }
}
