import type { Kafka } from 'kafkajs';
import { fetchTopicOffsetsSettled } from '@deeplens/platform/kafkaRetry';
import { checkpointKey } from './projection.ts';

/** The end of every partition of `topics` now: the offset the next record will get. */
export async function logEnd(kafka: Kafka, topics: readonly string[]): Promise<Map<string, number>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = new Map<string, number>();
    for (const topic of topics) {
      for (const { partition, high } of await fetchTopicOffsetsSettled(admin, topic))
        ends.set(checkpointKey(topic, partition), Number(high));
    }
    return ends;
  } finally {
    await admin.disconnect();
  }
}
