import type { Admin } from 'kafkajs';
import { ensureTopics } from '@deeplens/platform/kafka';
import { topicConfigEntries, topicsWithPrefix } from './topics.ts';

/** Creates every DeepLens topic that is missing, with `retention.ms=-1` (the log of record). */
export async function ensureEventTopics(admin: Admin, partitions: number, prefix = ''): Promise<void> {
  await ensureTopics(
    admin,
    Object.values(topicsWithPrefix(prefix)).map((topic) => ({
      topic,
      partitions,
      configEntries: [...topicConfigEntries],
    })),
  );
}
