import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '@deeplens/platform/config';
import { createKafka, ensureTopics, TopicMisconfiguredError } from '@deeplens/platform/kafka';
import { dataKeysTopic } from '@deeplens/platform/kafkaDataKeyStore';
import { uniqueName } from '@deeplens/platform/testing/testTopics';
import { ensureEventTopics } from './ensureEventTopics.ts';
import { topicsWithPrefix } from './topics.ts';

describe('event topics are verified at start-up', () => {
  it('refuses to start when a topic was pre-created with 7-day retention, naming the topic and the setting', async (t) => {
    const kafka = createKafka(loadConfig());
    const admin = kafka.admin();
    await admin.connect();
    const prefix = `${uniqueName('verify')}.`;
    const names = Object.values(topicsWithPrefix(prefix));
    const keyTopic = `${prefix}${dataKeysTopic}`;
    t.after(async () => {
      await admin.deleteTopics({ topics: [...names, keyTopic] }).catch(() => undefined);
      await admin.disconnect();
    });
    const image = topicsWithPrefix(prefix).image;
    await ensureTopics(admin, [
      { topic: image, partitions: 2, configEntries: [{ name: 'retention.ms', value: '604800000' }] },
    ]);

    await assert.rejects(ensureEventTopics(admin, 2, prefix), (error: Error) => {
      assert.ok(error instanceof TopicMisconfiguredError);
      assert.deepEqual(error.mismatches, [`${image}: retention.ms is 604800000, must be -1`]);
      assert.match(error.message, /refusing to start/);
      return true;
    });
    // The other topics were created as they must be, and pass.
    const others = names.filter((n) => n !== image);
    assert.ok(others.every((n) => n.startsWith(prefix)));
    await admin.alterConfigs({
      validateOnly: false,
      resources: [{ type: 2, name: image, configEntries: [{ name: 'retention.ms', value: '-1' }] }],
    });
    // The broker applies a config change through its metadata log: described a moment later.
    for (const deadline = Date.now() + 30_000; ;) {
      const described = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: 2, name: image, configNames: ['retention.ms'] }],
      });
      if (described.resources[0]?.configEntries[0]?.configValue === '-1') break;
      assert.ok(Date.now() < deadline, 'the retention change is applied within 30 s');
      await sleep(100);
    }
    await ensureEventTopics(admin, 2, prefix, { replicationFactor: 1, minInsyncReplicas: 1 });
    const keyConfig = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: 2, name: keyTopic, configNames: ['cleanup.policy'] }],
    });
    assert.equal(
      keyConfig.resources[0]?.configEntries[0]?.configValue,
      'compact',
      'the data-key topic is compacted',
    );

    // Partition count, replication factor and min.insync.replicas are checked against the configuration.
    await assert.rejects(
      ensureEventTopics(admin, 3, prefix, { replicationFactor: 3, minInsyncReplicas: 2 }),
      (error: Error) => {
        assert.ok(error instanceof TopicMisconfiguredError);
        assert.ok(error.mismatches.includes(`${image}: partition count is 2, configured 3`));
        assert.ok(error.mismatches.includes(`${image}: replication factor is 1, configured 3`));
        assert.ok(error.mismatches.includes(`${image}: min.insync.replicas is 1, must be 2`));
        return true;
      },
    );
  });
});
