import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from './config.ts';
import { createKafka } from './kafka.ts';
import { createTestTopics, uniqueName } from './testing/testTopics.ts';

describe('kafkajs against the stack broker', () => {
  it('produces with an idempotent producer and consumes back every key in order', async (t) => {
    const kafka = createKafka(loadConfig());
    const topic = uniqueName('plumbing');
    await createTestTopics(t, kafka, [{ topic, partitions: 3 }]);

    const keys = ['tenant-a', 'tenant-b', 'tenant-c', 'tenant-d'];
    const perKey = 50;
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    t.after(() => producer.disconnect());
    for (let i = 0; i < perKey; i++) {
      await producer.send({ topic, acks: -1, messages: keys.map((key) => ({ key, value: String(i) })) });
    }

    const seen = new Map<string, number[]>();
    const consumer = kafka.consumer({ groupId: uniqueName('plumbing-group') });
    await consumer.connect();
    t.after(() => consumer.disconnect());
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve) => {
      let total = 0;
      void consumer.run({
        eachMessage: async ({ message }) => {
          const key = message.key!.toString();
          seen.set(key, [...(seen.get(key) ?? []), Number(message.value!.toString())]);
          if (++total === keys.length * perKey) resolve();
        },
      });
    });

    const expected = Array.from({ length: perKey }, (_, i) => i);
    for (const key of keys) assert.deepEqual(seen.get(key), expected, `records of ${key} in order`);
  });

  it('sends a record to the partition its caller names exactly once (the producer guard knows it was answered)', async (t) => {
    const kafka = createKafka(loadConfig());
    const topic = uniqueName('named-partition');
    await createTestTopics(t, kafka, [{ topic, partitions: 3 }]);
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    t.after(() => producer.disconnect());

    const answers = await producer.send({
      topic,
      acks: -1,
      messages: [
        { partition: 2, key: 'named', value: 'one' },
        { key: 'chosen', value: 'two' },
      ],
    });

    assert.ok(answers.some((a) => a.partition === 2));
    const admin = kafka.admin();
    await admin.connect();
    t.after(() => admin.disconnect());
    const offsets = await admin.fetchTopicOffsets(topic);
    const records = offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
    assert.equal(records, 2, `each record once: ${JSON.stringify(offsets)}`);
    assert.ok(
      Number(offsets.find((p) => p.partition === 2)?.high) >= 1,
      'the named partition holds its record',
    );
  });
});
