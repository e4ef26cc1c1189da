import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { retryKafka, waitForTopicsOnEveryBroker } from '@deeplens/platform/kafkaRetry';
import { runningPid, startDetached, stopByPidFile, waitUntil } from '../processes.ts';
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
  const db = new URL(context.config.DATABASE_URL);

  const migratedMarker = join(context.dataDir, 'schema-registry-kafkasql');

  /**
   * A stack from before the registry kept its state in Kafka has its schemas in PostgreSQL
   * (database `apicurio`). The first time the kafkasql registry runs, empty, they are exported
   * by a registry started briefly on that database and imported with their ids (content ids are
   * the Confluent-API schema ids), so every record already in Kafka still decodes.
   */
  async function migrateFromSqlStorage(): Promise<void> {
    if (existsSync(migratedMarker)) return;
    const pid = runningPid(pidFile, marker);
    if (pid === undefined || !readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('storage.kind=kafkasql'))
      return; // an older registry still running on SQL: nothing to do until it is restarted
    const done = () => writeFileSync(migratedMarker, `${new Date().toISOString()}\n`);
    const stored = await countSqlSchemas();
    const live = `http://${context.host}:${port}`;
    const artifacts = (await (await fetch(`${live}/apis/registry/v3/search/artifacts?limit=1`)).json()) as {
      count: number;
    };
    if (stored === 0 || artifacts.count > 0) return done();
    console.log(`  schema-registry  moving ${stored} schemas from PostgreSQL into Kafka (once)…`);
    const tempPort = await freeLoopbackPort();
    const temp = `http://${context.host}:${tempPort}`;
    const tempPidFile = join(context.runDir, 'schema-registry-migration.pid');
    startDetached({
      command: findJava(),
      args: [
        `-Dquarkus.http.host=${context.host}`,
        `-Dquarkus.http.port=${tempPort}`,
        '-Dquarkus.management.enabled=false',
        '-Dapicurio.storage.kind=sql',
        '-Dapicurio.storage.sql.kind=postgresql',
        `-Dapicurio.datasource.url=jdbc:postgresql://${db.hostname}:${db.port || 5432}/apicurio`,
        `-Dapicurio.datasource.username=${decodeURIComponent(db.username)}`,
        `-Dapicurio.datasource.password=${decodeURIComponent(db.password)}`,
        '-jar',
        runnerJar(),
      ],
      cwd: home,
      logFile: join(context.logDir, 'schema-registry-migration.log'),
      pidFile: tempPidFile,
    });
    try {
      const up = await waitUntil(
        async () => (await fetch(`${temp}/apis/ccompat/v7/config`)).ok,
        240_000,
        1000,
      );
      if (!up) throw new StackError('the registry on the old PostgreSQL store did not start; see its log');
      const before = await schemaIdsBySubject(`${temp}/apis/ccompat/v7`);
      const exported = await fetch(`${temp}/apis/registry/v3/admin/export`);
      if (!exported.ok) throw new StackError(`export from the SQL store failed: ${exported.status}`);
      const imported = await fetch(`${live}/apis/registry/v3/admin/import`, {
        method: 'POST',
        headers: {
          'content-type': 'application/zip',
          'X-Registry-Preserve-GlobalId': 'true',
          'X-Registry-Preserve-ContentId': 'true',
        },
        body: Buffer.from(await exported.arrayBuffer()),
      });
      if (!imported.ok)
        throw new StackError(
          `import into the kafkasql store failed: ${imported.status} ${await imported.text()}`,
        );
      const after = await schemaIdsBySubject(baseUrl);
      for (const [subject, id] of before) {
        if (after.get(subject) !== id)
          throw new StackError(`after the move, ${subject} has schema id ${after.get(subject)}, not ${id}`);
      }
      done();
      console.log(`  schema-registry  ${before.size} subjects moved, schema ids unchanged`);
    } finally {
      await stopByPidFile(tempPidFile, marker);
    }
  }

  async function countSqlSchemas(): Promise<number> {
    const client = new pg.Client({
      host: db.hostname,
      port: Number(db.port || 5432),
      user: decodeURIComponent(db.username),
      password: decodeURIComponent(db.password),
      database: 'apicurio',
    });
    try {
      await client.connect();
      const table = await client.query<{ exists: boolean }>(
        `select to_regclass('public.content') is not null as exists`,
      );
      if (!table.rows[0]?.exists) return 0;
      return Number((await client.query<{ n: string }>('select count(*) as n from content')).rows[0]?.n ?? 0);
    } catch {
      return 0; // no such database: a stack that never ran the SQL store
    } finally {
      await client.end().catch(() => undefined);
    }
  }

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
      await migrateFromSqlStorage();
    },
    stop: () => stopByPidFile(pidFile, marker),
  };
}

/**
 * Creates the registry's topics if missing (one partition: the journal is replayed in order)
 * and waits until each has a leader. A Kafka that has just started may not yet know a topic it
 * has just created ("This server does not host this topic-partition"): retriable errors are
 * retried until the topics are ready, so a cold `up` does not fail on them.
 */
export async function createRegistryTopics(brokers: string[], timeoutMs = 120_000): Promise<void> {
  const admin = new Kafka({ clientId: 'deeplens-stack', brokers, logLevel: logLevel.NOTHING }).admin();
  const topics = Object.values(registryTopics);
  const deadline = Date.now() + timeoutMs;
  const left = () => Math.max(1000, deadline - Date.now());
  try {
    await retryKafka(() => admin.connect(), { timeoutMs: left() });
    await retryKafka(
      async () => {
        const existing = new Set(await admin.listTopics());
        const replicationFactor = Math.min(3, (await admin.describeCluster()).brokers.length);
        const missing = topics.filter((topic) => !existing.has(topic));
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
      },
      { timeoutMs: left() },
    );
    // Every broker must know the topics (metadata reaches the others a moment after creation).
    await waitForTopicsOnEveryBroker(admin, topics, left());
  } finally {
    await admin.disconnect();
  }
}

/** Each subject's latest schema id, through the Confluent-compatible API. */
async function schemaIdsBySubject(ccompat: string): Promise<Map<string, number>> {
  const subjects = (await (await fetch(`${ccompat}/subjects`)).json()) as string[];
  const ids = new Map<string, number>();
  for (const subject of subjects) {
    const latest = await fetch(`${ccompat}/subjects/${encodeURIComponent(subject)}/versions/latest`);
    ids.set(subject, ((await latest.json()) as { id: number }).id);
  }
  return ids;
}

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}
