import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import kafkajs from 'kafkajs';
import { retryKafka, waitForTopicsOnEveryBroker } from './kafkaRetry.ts';
import { createRegistryTopics, registryTopics } from './services/schemaRegistryService.ts';
import { startPrivateKafkaCluster } from './testing/privateKafkaCluster.ts';

// Runs after the rest of the suite, alone (scripts/test.ts); DEEPLENS_CLUSTER=0 skips it.
const skip = process.env.DEEPLENS_CLUSTER === '0' ? 'DEEPLENS_CLUSTER=0' : false;

describe('local stack: three-broker Kafka', { skip }, () => {
  it('up --brokers 3 runs a KRaft cluster whose topics get replication factor 3 and min.insync.replicas 2', async (t) => {
    const cluster3 = await startPrivateKafkaCluster(t);
    const base = Number(cluster3.brokers[0]!.split(':')[1]);

    const { Kafka, logLevel, ConfigResourceTypes } = kafkajs;
    const admin = new Kafka({ brokers: [`127.0.0.1:${base + 2}`], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    t.after(() => admin.disconnect());
    const cluster = await admin.describeCluster();
    assert.deepEqual(cluster.brokers.map((b) => b.port).sort(), [base, base + 2, base + 4]);

    // Right after a cold start, as `up` does next: the registry's topics are created and have
    // leaders (a broker that does not know a new topic yet is waited for, not an error).
    await createRegistryTopics([`127.0.0.1:${base + 4}`]);
    const journal = await admin.fetchTopicMetadata({ topics: Object.values(registryTopics) });
    assert.deepEqual(
      journal.topics.map((t) => [t.partitions.length, t.partitions.every((p) => p.leader >= 0)]),
      [
        [1, true],
        [1, true],
        [1, true],
      ],
    );
    // KafkaJS's createTopics gives up when a broker does not know the new topic yet: retried.
    await retryKafka(() =>
      admin.createTopics({ topics: [{ topic: 'replicated', numPartitions: 3 }], waitForLeaders: true }),
    );
    await waitForTopicsOnEveryBroker(admin, ['replicated']);
    const [topic] = (await admin.fetchTopicMetadata({ topics: ['replicated'] })).topics;
    assert.deepEqual(
      topic!.partitions.map((p) => p.replicas.length),
      [3, 3, 3],
      'the brokers default to three replicas',
    );
    const configs = await admin.describeConfigs({
      resources: [
        { type: ConfigResourceTypes.TOPIC, name: 'replicated', configNames: ['min.insync.replicas'] },
      ],
      includeSynonyms: false,
    });
    assert.equal(configs.resources[0]!.configEntries[0]!.configValue, '2');
  });
});
