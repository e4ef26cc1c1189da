import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { runningPid, startDetached, stopByPidFile } from '../processes.ts';
import {
  findJava,
  isNonEmptyDir,
  mavenCopy,
  StackError,
  versions,
  type StackContext,
} from '../stackContext.ts';
import type { StackService } from '../stackService.ts';

/**
 * The Kafka topics Apicurio's `kafkasql` storage keeps its state in: the journal of every
 * change (replayed into an in-memory database at start-up), its snapshots, and its events.
 * Created by the stack, before the registry starts, with infinite retention and no compaction:
 * the journal is a log of operations, not of latest values, and must be kept whole.
 */
export const registryTopics = {
  journal: 'deeplens.registry.journal',
  snapshots: 'deeplens.registry.snapshots',
  events: 'deeplens.registry.events',
} as const;

/**
 * Apicurio Registry (the ready Quarkus app from Maven Central), used through its
 * Confluent-compatible API. Its state lives in Kafka itself (`kafkasql` storage, the model of
 * Confluent's `_schemas` topic), beside the events whose schema ids it resolves: losing
 * PostgreSQL loses no schema, and ids stay the same after any database loss.
 */
export function schemaRegistryService(context: StackContext): StackService {
  const home = join(context.cacheDir, `apicurio-registry-${versions.apicurio}`);
  const archiveDir = join(context.cacheDir, 'downloads', `apicurio-${versions.apicurio}`);
  const pidFile = join(context.runDir, 'schema-registry.pid');
  const logFile = join(context.logDir, 'schema-registry.log');
  const marker = 'apicurio-registry';
  const port = context.ports.registry;
  const baseUrl = `http://${context.host}:${port}/apis/ccompat/v7`;

  function runnerJar(): string {
    const jar = readdirSync(home).find((f) => f === 'quarkus-run.jar' || f.endsWith('-runner.jar'));
    if (!jar) throw new StackError(`no runnable jar in ${home}`);
    return join(home, jar);
  }

  return {
    name: 'schema-registry',
    version: `Apicurio Registry ${versions.apicurio} (Confluent-compatible API)`,
    address: baseUrl,
    logFile,
    startTimeoutSeconds: 120,
    async install() {
      if (isNonEmptyDir(home)) return;
      mavenCopy(
        context,
        `apicurio-${versions.apicurio}`,
        [
          {
            groupId: 'io.apicurio',
            artifactId: 'apicurio-registry-app',
            version: versions.apicurio,
            type: 'tar.gz',
            classifier: 'all',
          },
        ],
        archiveDir,
        { transitive: false },
      );
      const archive = readdirSync(archiveDir).find((f) => f.endsWith('.tar.gz'));
      if (!archive) throw new StackError(`the Apicurio archive did not arrive in ${archiveDir}`);
      mkdirSync(home, { recursive: true });
      execFileSync('tar', ['xzf', join(archiveDir, archive), '-C', home]);
      if (!existsSync(runnerJar())) throw new StackError('the Apicurio archive has no runnable jar');
    },
    async start() {
      await createRegistryTopics(context.config.KAFKA_BROKERS);
      startDetached({
        command: findJava(),
        args: [
          `-Xmx${process.env.STACK_REGISTRY_HEAP ?? '384m'}`,
          `-Dquarkus.http.host=${context.host}`,
          `-Dquarkus.http.port=${port}`,
          // The management interface would otherwise listen on 0.0.0.0:9000.
          '-Dquarkus.management.enabled=false',
          '-Dapicurio.storage.kind=kafkasql',
          `-Dapicurio.kafkasql.bootstrap.servers=${context.config.KAFKA_BROKERS.join(',')}`,
          `-Dapicurio.kafkasql.topic=${registryTopics.journal}`,
          `-Dapicurio.kafkasql.snapshots.topic=${registryTopics.snapshots}`,
          `-Dapicurio.events.kafka.topic=${registryTopics.events}`,
          // Ours, with the settings above; the registry's own would take the broker's defaults.
          '-Dapicurio.kafkasql.topic.auto-create=false',
          '-jar',
          runnerJar(),
        ],
        cwd: home,
        logFile,
        pidFile,
      });
    },
    pid: () => runningPid(pidFile, marker),
    async isHealthy() {
      const response = await fetch(`${baseUrl}/config`, { signal: AbortSignal.timeout(2000) });
      return response.ok;
    },
    async afterHealthy() {
      // Every subject must stay readable by every older reader: a breaking change is refused.
      const response = await fetch(`${baseUrl}/config`, {
        method: 'PUT',
        headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
        body: JSON.stringify({ compatibility: 'BACKWARD_TRANSITIVE' }),
      });
      if (!response.ok)
        throw new StackError(`could not set the global compatibility rule: ${response.status}`);
    },
    stop: () => stopByPidFile(pidFile, marker),
  };
}

/** Creates the registry's topics if missing (one partition: the journal is replayed in order). */
export async function createRegistryTopics(brokers: string[]): Promise<void> {
  const admin = new Kafka({ clientId: 'deeplens-stack', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const replicationFactor = Math.min(3, (await admin.describeCluster()).brokers.length);
    const missing = Object.values(registryTopics).filter((topic) => !existing.has(topic));
    if (missing.length === 0) return;
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((topic) => ({
        topic,
        numPartitions: 1,
        replicationFactor,
        configEntries: [
          { name: 'retention.ms', value: '-1' },
          { name: 'retention.bytes', value: '-1' },
          { name: 'cleanup.policy', value: 'delete' },
          { name: 'min.insync.replicas', value: String(Math.max(1, replicationFactor - 1)) },
        ],
      })),
    });
  } finally {
    await admin.disconnect();
  }
}
