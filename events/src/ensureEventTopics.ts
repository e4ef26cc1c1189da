import type { Admin, Kafka } from 'kafkajs';
import type { Config } from '@deeplens/platform/config';
import { ensureTopics, verifyTopics, type TopicGuarantees, type TopicSpec } from '@deeplens/platform/kafka';
import { dataKeysTopic, dataKeysTopicConfig } from '@deeplens/platform/kafkaDataKeyStore';
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
 * The data-key topic (crypto-shredding) is created and verified with them: one partition,
 * compacted, so an erasure's tombstone removes the key.
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
  specs.push({ topic: `${prefix}${dataKeysTopic}`, partitions: 1, configEntries: [...dataKeysTopicConfig] });
  await ensureTopics(admin, specs, guarantees);
  await verifyTopics(admin, specs, guarantees ?? { replicationFactor: 1, minInsyncReplicas: 1 }, {
    checkGuarantees: guarantees !== undefined,
  });
}

/**
 * A process's start-up: creates and verifies the installation's topics (its prefix and
 * partition count) with the replication factor and `min.insync.replicas` it is configured for,
 * so no process can create a topic with fewer copies than the others check for.
 */
export async function ensureInstallationTopics(
  kafka: Kafka,
  config: Pick<
    Config,
    'KAFKA_TOPIC_PARTITIONS' | 'KAFKA_TOPIC_PREFIX' | 'KAFKA_REPLICATION_FACTOR' | 'KAFKA_MIN_INSYNC_REPLICAS'
  >,
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureEventTopics(admin, config.KAFKA_TOPIC_PARTITIONS, config.KAFKA_TOPIC_PREFIX, {
      replicationFactor: config.KAFKA_REPLICATION_FACTOR,
      minInsyncReplicas: config.KAFKA_MIN_INSYNC_REPLICAS,
    });
  } finally {
    await admin.disconnect();
  }
}
