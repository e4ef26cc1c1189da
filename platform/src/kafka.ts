import {
  Kafka,
  logLevel,
  Partitioners,
  type Admin,
  type ConfigResourceTypes,
  type ITopicConfig,
  type logCreator,
  type Message,
  type Producer,
  type ProducerBatch,
  type ProducerConfig,
  type RecordMetadata,
  type TopicMessages,
} from 'kafkajs';
import type { Config } from './config.ts';
import { fetchTopicOffsetsSettled, KafkaNotReadyError, retryKafka } from './kafkaRetry.ts';
// kafkajs's request queues, without their check every millisecond while idle (see the file).
import './kafkajsRequestQueue.ts';

// `ConfigResourceTypes.TOPIC`: kafkajs is CommonJS and its enum is no named ESM export.
const topicResource = 2 as ConfigResourceTypes;

/**
 * A kafkajs client for the configured brokers; kafkajs's own logging is kept to errors. Its
 * producers are guarded (`guardProducer`): a send resolves only when every record has a
 * broker's acknowledgement.
 */
export function createKafka(
  config: Pick<Config, 'KAFKA_BROKERS' | 'KAFKA_CLIENT_ID'>,
  clientId?: string,
): Kafka {
  process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
  const kafka = new Kafka({
    clientId: clientId ?? config.KAFKA_CLIENT_ID,
    brokers: config.KAFKA_BROKERS,
    logLevel: logLevel.ERROR,
    logCreator: quietLogCreator,
    retry: { initialRetryTime: 100, retries: 8 },
  });
  const producer = kafka.producer.bind(kafka);
  kafka.producer = (producerConfig?: ProducerConfig) => guardProducer(producer, producerConfig);
  return kafka;
}

/** How many times a guarded send re-sends records kafkajs left unsent before it fails (retriable). */
const maxResends = 5;

/** Records a guarded send could not get acknowledged: nothing was lost silently, the caller retries. */
export class KafkaRecordsUnsentError extends Error {
  override readonly name = 'KafkaRecordsUnsentError';
  readonly retriable = true;
}

/**
 * A kafkajs producer whose `send`/`sendBatch` resolve only once every record's partition has an
 * acknowledgement in the answer.
 *
 * kafkajs 2.2 (tulios/kafkajs#1303) can resolve a send without having sent some records: a send
 * groups its records by partition leader and sends one request per broker; when a request fails
 * (its broker died), the retry groups the records again by the refreshed leaders but sends only
 * to brokers that have not answered yet in that call. A partition whose leadership moved to a
 * broker that had already answered is skipped, and the call resolves with no answer for it —
 * an acknowledged send whose records are not in Kafka. (Found by the broker-kill test:
 * stack/src/brokerKill.int.test.ts.)
 *
 * The guard remembers which partition the partitioner chose for each record (and that
 * partition's leader then) and, after kafkajs resolves, sends the records of every partition
 * missing from the answer again, to the same partition, until all are answered. The idempotent
 * producer's sequence for a skipped partition was rolled back when its request failed, so if
 * the failed request did reach the log the broker answers the re-send as a duplicate: no copy.
 */
export function guardProducer(
  createProducer: (config?: ProducerConfig) => Producer,
  config: ProducerConfig = {},
): Producer {
  const chosen = new WeakMap<Message, { partition: number; leader: number }>();
  const createPartitioner = config.createPartitioner ?? Partitioners.DefaultPartitioner;
  const producer = createProducer({
    ...config,
    createPartitioner: () => {
      const partitioner = createPartitioner();
      return (args) => {
        const partition = partitioner(args);
        const leader = args.partitionMetadata.find((p) => p.partitionId === partition)?.leader ?? -1;
        chosen.set(args.message, { partition, leader });
        return partition;
      };
    },
  });
  const sendBatch = producer.sendBatch.bind(producer);
  // A record sent to a partition the caller named (or re-sent by this guard) skips the partitioner.
  const partitionOf = (m: Message) => m.partition ?? chosen.get(m)?.partition;

  async function guardedSendBatch(batch: ProducerBatch): Promise<RecordMetadata[]> {
    const answers: RecordMetadata[] = [];
    let pending: TopicMessages[] = batch.topicMessages ?? [];
    for (let resends = 0; ; resends++) {
      const answered = await sendBatch({ ...batch, topicMessages: pending });
      answers.push(...answered);
      // acks=0: the brokers answer nothing, there is nothing to check.
      if (batch.acks === 0) return answers;
      if (resends > 0)
        warn('kafka: the re-sent records are acknowledged', { answered: answered.map(describeAnswer) });
      const done = new Set(answered.map((a) => `${a.topicName}\0${a.partition}`));
      const unsent: TopicMessages[] = [];
      const skipped: { topic: string; partition?: number; records: number; leaderWhenGrouped?: number }[] =
        [];
      for (const { topic, messages } of pending) {
        const left = messages.filter((m) => {
          const partition = partitionOf(m);
          return partition === undefined || !done.has(`${topic}\0${partition}`);
        });
        if (left.length === 0) continue;
        unsent.push({ topic, messages: left.map((m) => ({ ...m, partition: partitionOf(m) })) });
        for (const partition of new Set(left.map(partitionOf))) {
          const records = left.filter((m) => partitionOf(m) === partition);
          skipped.push({
            topic,
            partition,
            records: records.length,
            leaderWhenGrouped: chosen.get(records[0]!)?.leader,
          });
        }
      }
      if (unsent.length === 0) return answers;
      if (resends >= maxResends)
        throw new KafkaRecordsUnsentError(
          `kafka: records left unsent after ${resends} re-sends: ${skipped
            .map((s) => `${s.topic}[${s.partition}] ${s.records} records`)
            .join(', ')}`,
        );
      warn('kafka: a send resolved without an answer for some partitions; sending their records again', {
        skipped,
        answered: answered.map(describeAnswer),
      });
      pending = unsent;
    }
  }

  producer.sendBatch = guardedSendBatch;
  producer.send = ({ topic, messages, ...options }) =>
    guardedSendBatch({ ...options, topicMessages: [{ topic, messages }] });
  return producer;
}

const describeAnswer = (a: RecordMetadata) => `${a.topicName}[${a.partition}]@${a.baseOffset}`;

function warn(message: string, fields: Record<string, unknown>): void {
  process.stderr.write(
    `${JSON.stringify({ time: new Date().toISOString(), level: 'warn', msg: message, ...fields })}\n`,
  );
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
  // KafkaJS's own wait for leaders gives up when the broker answers "does not host this
  // topic-partition" for a topic it has just created (its metadata not loaded yet): the creation
  // is retried (an existing topic counts as created) and the leaders awaited here instead.
  await retryKafka(() =>
    admin.createTopics({
      waitForLeaders: false,
      topics: missing.map((t) => ({
        topic: t.topic,
        numPartitions: t.partitions,
        replicationFactor: guarantees.replicationFactor,
        configEntries: [
          ...(t.configEntries ?? keepForever),
          { name: 'min.insync.replicas', value: String(guarantees.minInsyncReplicas) },
        ],
      })),
    }),
  );
  await retryKafka(async () => {
    const { topics: metadata } = await admin.fetchTopicMetadata({ topics: missing.map((t) => t.topic) });
    const leaderless = metadata.filter(
      (t) => t.partitions.length === 0 || t.partitions.some((p) => p.leader < 0),
    );
    if (leaderless.length > 0)
      throw new KafkaNotReadyError(`no leader yet for ${leaderless.map((t) => t.name).join(', ')}`);
  });
  // Metadata can name a leader before that broker acts as one ("This server is not the leader
  // for that topic-partition" on a first offset lookup): wait until every partition answers.
  for (const { topic } of missing) await fetchTopicOffsetsSettled(admin, topic);
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
