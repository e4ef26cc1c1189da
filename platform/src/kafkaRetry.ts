import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel, type Admin } from 'kafkajs';

/**
 * Whether a Kafka client error is one a fresh broker answers while it settles — a topic's
 * metadata not yet on every broker ("This server does not host this topic-partition"), no
 * leader elected yet, a refused connection — so the same request succeeds a moment later.
 * KafkaJS marks those `retriable`; when its own retries run out it wraps the last one.
 */
export function isRetriableKafkaError(error: unknown): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    const flagged = (e as { retriable?: unknown }).retriable;
    if (flagged === true) return true;
    if (e.name === 'KafkaJSConnectionError' || e.name === 'KafkaJSRequestTimeoutError') return true;
    // KafkaJSNumberOfRetriesExceeded is marked not retriable; its cause says what it retried.
    if (e.name !== 'KafkaJSNumberOfRetriesExceeded') return false;
  }
  return false;
}

/**
 * Runs `work` until it succeeds, retrying retriable Kafka errors (backing off up to 2 s) until
 * `timeoutMs` has passed; any other error, or the last one at the deadline, is thrown.
 */
export async function retryKafka<T>(
  work: () => Promise<T>,
  options: { timeoutMs?: number; onRetry?: (error: unknown) => void } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (let delay = 100; ; delay = Math.min(2000, delay * 2)) {
    try {
      return await work();
    } catch (error) {
      if (!isRetriableKafkaError(error) || Date.now() + delay > deadline) throw error;
      options.onRetry?.(error);
      await sleep(delay);
    }
  }
}

/** A condition not met yet (e.g. a topic without a leader): retried by `retryKafka`. */
export class KafkaNotReadyError extends Error {
  override readonly name = 'KafkaNotReadyError';
  readonly retriable = true;
}

/**
 * Waits until every broker of the cluster (`admin`'s) answers metadata for `topics` with a
 * leader for each partition: right after creation only the controller may know them.
 */
export async function waitForTopicsOnEveryBroker(
  admin: Admin,
  topics: string[],
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const left = () => Math.max(1000, deadline - Date.now());
  const { brokers } = await retryKafka(() => admin.describeCluster(), { timeoutMs: left() });
  for (const node of brokers) {
    await retryKafka(
      async () => {
        const one = new Kafka({
          clientId: 'deeplens-stack',
          brokers: [`${node.host}:${node.port}`],
          logLevel: logLevel.NOTHING,
          retry: { retries: 0 },
        }).admin();
        await one.connect();
        try {
          const metadata = await one.fetchTopicMetadata({ topics });
          const leaderless = metadata.topics.filter((t) => t.partitions.some((p) => p.leader < 0));
          if (leaderless.length > 0)
            throw new KafkaNotReadyError(`no leader yet for ${leaderless.map((t) => t.name).join(', ')}`);
        } finally {
          await one.disconnect();
        }
      },
      { timeoutMs: left() },
    );
  }
}

/**
 * Every partition's low and high offset of `topic`, retried while the cluster settles: a broker
 * that metadata names as leader can refuse an offset lookup for a moment ("not the leader for
 * that topic-partition") right after a topic is created or leadership moves.
 */
export function fetchTopicOffsetsSettled(
  admin: Admin,
  topic: string,
  timeoutMs = 30_000,
): ReturnType<Admin['fetchTopicOffsets']> {
  return retryKafka(() => admin.fetchTopicOffsets(topic), { timeoutMs });
}
