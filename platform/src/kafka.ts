import { Kafka, logLevel, type Admin, type ITopicConfig, type logCreator } from 'kafkajs';
import type { Config } from './config.ts';

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

export const keepForever: ITopicConfig['configEntries'] = [{ name: 'retention.ms', value: '-1' }];

/** Creates the topics that do not exist yet; existing topics are left as they are. */
export async function ensureTopics(admin: Admin, topics: TopicSpec[]): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((t) => !existing.has(t.topic));
  if (missing.length === 0) return;
  await admin.createTopics({
    waitForLeaders: true,
    topics: missing.map((t) => ({
      topic: t.topic,
      numPartitions: t.partitions,
      replicationFactor: 1,
      configEntries: t.configEntries ?? keepForever,
    })),
  });
}
