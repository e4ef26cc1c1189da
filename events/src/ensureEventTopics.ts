import type { Admin } from 'kafkajs';
import { ensureTopics, verifyTopics, type TopicGuarantees, type TopicSpec } from '@deeplens/platform/kafka';
import { topicsWithPrefix } from './topics.ts';

/**
 * What every DeepLens topic must have: records kept forever (no time or size limit, never
 * compacted away). Checked at start-up, never assumed.
 */
export const logOfRecordConfig: ReadonlyArray<{ name: string; value: string }> = [
  { name: 'retention.ms', value: '-1' },
  { name: 'retention.bytes', value: '-1' },
  { name: 'cleanup.policy', value: 'delete' },
];

/**
 * Creates every DeepLens topic that is missing, kept forever (the log of record), then verifies
 * every one of them: retention, cleanup policy, partition count and, when `guarantees` are
 * given, replication factor and `min.insync.replicas`. A mismatch throws
 * `TopicMisconfiguredError` naming the topic and the setting: the process refuses to start.
 */
export async function ensureEventTopics(
  admin: Admin,
  partitions: number,
  prefix = '',
  guarantees?: TopicGuarantees,
): Promise<void> {
  const specs: TopicSpec[] = Object.values(topicsWithPrefix(prefix)).map((topic) => ({
    topic,
    partitions,
    configEntries: [...logOfRecordConfig],
  }));
  await ensureTopics(admin, specs, guarantees);
  await verifyTopics(admin, specs, guarantees ?? { replicationFactor: 1, minInsyncReplicas: 1 }, {
    checkGuarantees: guarantees !== undefined,
  });
}
