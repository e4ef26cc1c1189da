import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import type { Kafka } from 'kafkajs';
import { ensureTopics } from '../kafka.ts';

/** A uniquely named name for a test's topic, consumer group or subject. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** Creates topics for one test and deletes them when it ends. */
export async function createTestTopics(
  t: Pick<TestContext, 'after'>,
  kafka: Kafka,
  topics: { topic: string; partitions: number }[],
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, topics);
  t.after(async () => {
    await admin.deleteTopics({ topics: topics.map((t) => t.topic) }).catch(() => undefined);
    await admin.disconnect();
  });
}
