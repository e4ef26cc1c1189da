import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import kafkajs from 'kafkajs';
import { isRetriableKafkaError, retryKafka } from './kafkaRetry.ts';

const { KafkaJSProtocolError, KafkaJSNumberOfRetriesExceeded, KafkaJSNonRetriableError } = kafkajs;

/** What KafkaJS throws when a broker does not know a topic yet (its own error class). */
const unknownTopic = () =>
  new KafkaJSProtocolError({
    type: 'UNKNOWN_TOPIC_OR_PARTITION',
    code: 3,
    retriable: true,
    message: 'This server does not host this topic-partition',
  } as unknown as Error);

describe('retryKafka', () => {
  it('classifies unknown-topic (also wrapped by exhausted retries) as retriable, others not', () => {
    assert.equal(isRetriableKafkaError(unknownTopic()), true);
    const exhausted = new KafkaJSNumberOfRetriesExceeded(unknownTopic(), { retryCount: 5, retryTime: 1 });
    assert.equal(isRetriableKafkaError(exhausted), true);
    assert.equal(isRetriableKafkaError(new KafkaJSNonRetriableError('invalid topic')), false);
    assert.equal(isRetriableKafkaError(new Error('plain')), false);
    assert.equal(isRetriableKafkaError('not an error'), false);
  });

  it('retries a retriable error until the work succeeds', async () => {
    let calls = 0;
    const retried: unknown[] = [];
    const result = await retryKafka(
      async () => {
        calls++;
        if (calls < 3) throw unknownTopic();
        return 'ready';
      },
      { onRetry: (error) => retried.push(error) },
    );
    assert.equal(result, 'ready');
    assert.equal(calls, 3);
    assert.equal(retried.length, 2);
  });

  it('throws a non-retriable error at once, and a retriable one at the deadline', async () => {
    let calls = 0;
    await assert.rejects(
      retryKafka(async () => {
        calls++;
        throw new KafkaJSNonRetriableError('invalid replication factor');
      }),
      /invalid replication factor/,
    );
    assert.equal(calls, 1);
    const started = Date.now();
    await assert.rejects(
      retryKafka(() => Promise.reject(unknownTopic()), { timeoutMs: 500 }),
      /does not host this topic-partition/,
    );
    assert.ok(Date.now() - started < 5000);
  });
});
