import { setTimeout as sleep } from 'node:timers/promises';

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
