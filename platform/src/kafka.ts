import {
  Kafka,
  logLevel,
  type Admin,
  type ConfigResourceTypes,
  type ITopicConfig,
  type logCreator,
} from 'kafkajs';
import type { Config } from './config.ts';

// `ConfigResourceTypes.TOPIC`: kafkajs is CommonJS and its enum is no named ESM export.
const topicResource = 2 as ConfigResourceTypes;

/** A kafkajs client for the configured brokers; kafkajs's own logging is kept to errors. */
export function createKafka(
  config: Pick<Config, 'KAFKA_BROKERS' | 'KAFKA_CLIENT_ID'>,
  clientId?: string,
): Kafka {
  process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
  return new Kafka({
    clientId: clientId ?? config.KAFKA_CLIENT_ID,
    brokers: config.KAFKA_BROKERS,
    logLevel: logLevel.ERROR,
    logCreator: quietLogCreator,
    retry: { initialRetryTime: 100, retries: 8 },
  });
}

// Errors kafkajs logs and then retries by itself while a broker elects leaders or loads groups.
const transient =
  /not host this topic-partition|not the leader|coordinator is loading|coordinator is not available|rebalanc/i;

/** kafkajs's own log lines as JSON on stderr, without the retried-and-recovered noise. */
const quietLogCreator: logCreator =
  () =>
  ({ level, log }) => {
    const { message, error, ...rest } = log as { message: string; error?: string } & Record<string, unknown>;
    if (transient.test(String(error ?? '')) || transient.test(message)) return;
    process.stderr.write(
      `${JSON.stringify({ time: new Date().toISOString(), level: logLevel[level]?.toLowerCase(), msg: message, error, ...rest })}\n`,
    );
  };

export interface TopicSpec {
  topic: string;
  partitions: number;
  /** Defaults to keeping records forever: Kafka is DeepLens's log of record. */
  configEntries?: ITopicConfig['configEntries'];
}

/** How many copies of each partition the cluster keeps, and how many must have a write (`acks=all`). */
export type TopicGuarantees = { replicationFactor: number; minInsyncReplicas: number };

export const keepForever: NonNullable<ITopicConfig['configEntries']> = [
  { name: 'retention.ms', value: '-1' },
];

/** Creates the topics that do not exist yet; existing topics are left as they are (see `verifyTopics`). */
export async function ensureTopics(
  admin: Admin,
  topics: TopicSpec[],
  guarantees: TopicGuarantees = { replicationFactor: 1, minInsyncReplicas: 1 },
): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((t) => !existing.has(t.topic));
  if (missing.length === 0) return;
  await admin.createTopics({
    waitForLeaders: true,
    topics: missing.map((t) => ({
      topic: t.topic,
      numPartitions: t.partitions,
      replicationFactor: guarantees.replicationFactor,
      configEntries: [
        ...(t.configEntries ?? keepForever),
        { name: 'min.insync.replicas', value: String(guarantees.minInsyncReplicas) },
      ],
    })),
  });
}

/** Topics whose settings differ from what DeepLens is configured with: start-up refuses. */
export class TopicMisconfiguredError extends Error {
  override readonly name = 'TopicMisconfiguredError';
  constructor(readonly mismatches: readonly string[]) {
    super(
      `Kafka topics do not match the configuration, refusing to start:\n  ${mismatches.join('\n  ')}\n` +
        'Fix the topic (kafka-configs.sh --alter, or recreate it) or the configuration ' +
        '(KAFKA_TOPIC_PARTITIONS, KAFKA_REPLICATION_FACTOR, KAFKA_MIN_INSYNC_REPLICAS).',
    );
  }
}

/**
 * Checks every topic against its spec and the configured guarantees: each config entry of the
 * spec (retention, cleanup policy…), the partition count, every partition's replication factor
 * and `min.insync.replicas` (unless `checkGuarantees` is false). Throws `TopicMisconfiguredError` naming each topic and setting
 * that differs; never changes a topic.
 */
export async function verifyTopics(
  admin: Admin,
  topics: TopicSpec[],
  guarantees: TopicGuarantees,
  options: { checkGuarantees?: boolean } = {},
): Promise<void> {
  const checkGuarantees = options.checkGuarantees ?? true;
  if (topics.length === 0) return;
  const mismatches: string[] = [];
  const { topics: metadata } = await admin.fetchTopicMetadata({ topics: topics.map((t) => t.topic) });
  const described = await admin.describeConfigs({
    includeSynonyms: false,
    resources: topics.map((t) => ({ type: topicResource, name: t.topic })),
  });
  for (const spec of topics) {
    const partitions = metadata.find((m) => m.name === spec.topic)?.partitions ?? [];
    if (partitions.length !== spec.partitions)
      mismatches.push(
        `${spec.topic}: partition count is ${partitions.length}, configured ${spec.partitions}`,
      );
    const replicas = [...new Set(partitions.map((p) => p.replicas.length))];
    if (checkGuarantees && replicas.some((r) => r !== guarantees.replicationFactor))
      mismatches.push(
        `${spec.topic}: replication factor is ${replicas.join('/')}, configured ${guarantees.replicationFactor}`,
      );
    const entries = new Map(
      (described.resources.find((r) => r.resourceName === spec.topic)?.configEntries ?? []).map((e) => [
        e.configName,
        e.configValue,
      ]),
    );
    const expected = [
      ...(spec.configEntries ?? keepForever),
      ...(checkGuarantees
        ? [{ name: 'min.insync.replicas', value: String(guarantees.minInsyncReplicas) }]
        : []),
    ];
    for (const { name, value } of expected) {
      if (entries.get(name) !== value)
        mismatches.push(`${spec.topic}: ${name} is ${entries.get(name) ?? 'unset'}, must be ${value}`);
    }
  }
  if (mismatches.length > 0) throw new TopicMisconfiguredError(mismatches);
}
