import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import kafkajs from 'kafkajs';
import { freePort } from '@deeplens/platform/testing/freePort';
import { createRegistryTopics, registryTopics } from './services/schemaRegistryService.ts';

const repoRoot = join(import.meta.dirname, '..', '..');

function runStack(env: Record<string, string>, args: string[]): Promise<void> {
  return new Promise((done, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'stack/src/main.ts', ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? done() : reject(new Error(`stack ${args.join(' ')} exited ${code}`)),
    );
  });
}

function canListen(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen(port, '127.0.0.1', () => server.close(() => done(true)));
  });
}

/** A base port whose next five are free too (the three nodes' broker and controller ports). */
async function freePortRun(): Promise<number> {
  for (;;) {
    const base = await freePort();
    const rest = await Promise.all([1, 2, 3, 4, 5].map((i) => canListen(base + i)));
    if (rest.every(Boolean)) return base;
  }
}

describe('local stack: three-broker Kafka', () => {
  it('up --brokers 3 runs a KRaft cluster whose topics get replication factor 3 and min.insync.replicas 2', async (t) => {
    const base = await freePortRun();
    const dir = await mkdtemp(join(tmpdir(), 'deeplens-kafka-cluster-'));
    const env = {
      STACK_DIR: dir,
      STACK_CACHE_DIR:
        process.env.STACK_CACHE_DIR ?? resolve(repoRoot, process.env.STACK_DIR ?? '.stack', 'cache'),
      KAFKA_BROKERS: `127.0.0.1:${base}`,
      STACK_KAFKA_HEAP: '256m',
    };
    t.after(async () => {
      await runStack(env, ['down', 'kafka']);
      await rm(dir, { recursive: true, force: true });
    });
    await runStack(env, ['up', 'kafka', '--brokers', '3']);

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
    await admin.createTopics({ topics: [{ topic: 'replicated', numPartitions: 3 }], waitForLeaders: true });
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
