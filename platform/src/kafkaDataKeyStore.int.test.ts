import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { loadConfig } from './config.ts';
import { newDataKey, userSubject } from './dataKeys.ts';
import { createKafka } from './kafka.ts';
import { dataKeysTopicConfig, ensureDataKeysTopic, startKafkaDataKeyStore } from './kafkaDataKeyStore.ts';
import { createTestDatabase } from './testing/testDatabase.ts';
import { uniqueName } from './testing/testTopics.ts';

describe('the Kafka data-key store', () => {
  it('keeps keys on the compacted topic: a cache rebuilt from it alone has them, and erasures, and racing writers agree', async (t) => {
    const config = loadConfig();
    const kafka = createKafka(config, 'data-keys-test');
    const topic = uniqueName('datakeys');
    const admin = kafka.admin();
    await admin.connect();
    t.after(async () => {
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    });
    await ensureDataKeysTopic(admin, topic);
    const described = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: 2, name: topic, configNames: dataKeysTopicConfig.map((c) => c.name) }],
    });
    for (const { name, value } of dataKeysTopicConfig) {
      const entry = described.resources[0]?.configEntries.find((e) => e.configName === name);
      assert.equal(entry?.configValue, value, name);
    }

    const masterKey = newDataKey();
    const first = await createTestDatabase(t);
    const store = await startKafkaDataKeyStore({ kafka, databaseUrl: first.url, masterKey, topic });
    t.after(() => store.stop());
    const [kept, erased, raced] = [randomUUID(), randomUUID(), randomUUID()].map(userSubject) as [
      string,
      string,
      string,
    ];
    const keptKey = await store.keyForWriting(kept);
    assert.ok(keptKey && keptKey.length === 32);
    assert.deepEqual(await store.keyForWriting(kept), keptKey, 'the same key on every call');
    assert.deepEqual(await store.keyForReading(kept), keptKey);
    assert.equal(await store.keyForReading(randomUUID()), undefined, 'reading never creates');
    await store.keyForWriting(erased);
    await store.destroy(erased);
    await store.destroy(erased);
    assert.equal(await store.keyForReading(erased), undefined);
    assert.equal(await store.keyForWriting(erased), undefined, 'an erased subject gets no new key');
    const racing = await Promise.all(Array.from({ length: 5 }, () => store.keyForWriting(raced)));
    for (const key of racing) assert.deepEqual(key, racing[0], 'racing writers agree on one key');

    // PostgreSQL lost: a fresh database, the cache refilled from the topic alone.
    const second = await createTestDatabase(t);
    const rebuilt = await startKafkaDataKeyStore({ kafka, databaseUrl: second.url, masterKey, topic });
    t.after(() => rebuilt.stop());
    assert.deepEqual(await rebuilt.keyForReading(kept), keptKey);
    assert.deepEqual(await rebuilt.keyForReading(raced), racing[0]);
    assert.equal(await rebuilt.keyForReading(erased), undefined);
    assert.equal(await rebuilt.keyForWriting(erased), undefined);

    // Another master key cannot unwrap them: the key topic alone is useless.
    const third = await createTestDatabase(t);
    const wrongMaster = await startKafkaDataKeyStore({
      kafka,
      databaseUrl: third.url,
      masterKey: newDataKey(),
      topic,
    });
    t.after(() => wrongMaster.stop());
    await assert.rejects(wrongMaster.keyForReading(kept), /DATA_KEY_MASTER_KEY/);
  });
});
