import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { runningPid, startDetached, stopByPidFile } from '../processes.ts';
import { findJava, isNonEmptyDir, mavenCopy, versions, type StackContext } from '../stackContext.ts';
import type { StackService } from '../stackService.ts';

/**
 * How many brokers the stack's Kafka runs: `up --brokers N` records it under `conf/`, later
 * commands read it back (the folder's data was formatted for that many).
 */
export function kafkaBrokerCount(context: StackContext, requested?: number): number {
  const file = join(context.dir, 'conf', 'kafka-brokers');
  if (requested !== undefined) {
    mkdirSync(join(context.dir, 'conf'), { recursive: true });
    writeFileSync(file, `${requested}\n`);
    return requested;
  }
  return existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) || 1 : 1;
}

/**
 * Apache Kafka in KRaft mode, from the Maven Central jars: one node (broker + controller), or
 * with `brokers` 3 a cluster of three combined nodes on consecutive port pairs (`19092/19093`,
 * `19094/19095`, `19096/19097`), replication factor 3 and `min.insync.replicas` 2 as the
 * brokers' defaults — configuration, not code.
 */
export function kafkaService(context: StackContext, brokers = 1): StackService {
  const nodes = Array.from({ length: brokers }, (_, i) => kafkaNode(context, i + 1, brokers));
  const first = nodes[0]!;
  if (brokers === 1) return first;
  return {
    ...first,
    version: `${first.version}, ${brokers} brokers`,
    address: nodes.map((n) => n.address).join(','),
    install: () => first.install(),
    async start() {
      for (const node of nodes) if (node.pid() === undefined) await node.start();
    },
    // Up only when every node runs.
    pid: () => (nodes.every((n) => n.pid() !== undefined) ? first.pid() : undefined),
    async isHealthy() {
      return (await Promise.all(nodes.map((n) => n.isHealthy()))).every(Boolean);
    },
    async stop() {
      const stopped = await Promise.all(nodes.map((n) => n.stop()));
      return stopped.some(Boolean);
    },
  };
}

function kafkaNode(context: StackContext, nodeId: number, brokers: number): StackService {
  const home = join(context.cacheDir, `kafka-${versions.kafka}`);
  const libs = join(home, 'libs');
  const suffix = brokers === 1 ? '' : `-${nodeId}`;
  const dataDir = join(context.dataDir, `kafka${suffix}`);
  const confDir = join(context.dir, 'conf', `kafka${suffix}`);
  const pidFile = join(context.runDir, `kafka${suffix}.pid`);
  const logFile = join(context.logDir, `kafka${suffix}.log`);
  const { host } = context;
  const portOf = (n: number) => context.ports.kafka + (n - 1) * 2;
  const controllerPortOf = (n: number) =>
    brokers === 1 ? context.ports.kafkaController : context.ports.kafka + (n - 1) * 2 + 1;
  const port = portOf(nodeId);
  const controllerPort = controllerPortOf(nodeId);
  const marker = confDir;
  const properties = join(confDir, 'server.properties');
  const replicas = Math.min(brokers, 3);
  const minIsr = Math.max(1, replicas - 1);
  const voters = Array.from({ length: brokers }, (_, i) => `${i + 1}@${host}:${controllerPortOf(i + 1)}`);
  // A stable cluster id per stack folder: every node is formatted with the same one.
  const clusterIdFile = join(context.dir, 'conf', 'kafka-cluster-id');

  function writeConfig(): void {
    mkdirSync(confDir, { recursive: true });
    writeFileSync(
      properties,
      [
        'process.roles=broker,controller',
        `node.id=${nodeId}`,
        `controller.quorum.voters=${voters.join(',')}`,
        `listeners=PLAINTEXT://${host}:${port},CONTROLLER://${host}:${controllerPort}`,
        `advertised.listeners=PLAINTEXT://${host}:${port}`,
        'controller.listener.names=CONTROLLER',
        'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
        'inter.broker.listener.name=PLAINTEXT',
        `log.dirs=${dataDir}`,
        // The log of record: DeepLens creates its topics itself, with retention.ms=-1.
        'auto.create.topics.enable=false',
        'num.partitions=1',
        `default.replication.factor=${replicas}`,
        `min.insync.replicas=${minIsr}`,
        `offsets.topic.replication.factor=${replicas}`,
        'offsets.topic.num.partitions=10',
        `transaction.state.log.replication.factor=${replicas}`,
        `transaction.state.log.min.isr=${minIsr}`,
        `share.coordinator.state.topic.replication.factor=${replicas}`,
        `share.coordinator.state.topic.min.isr=${minIsr}`,
        'group.initial.rebalance.delay.ms=0',
        'log.flush.interval.messages=9223372036854775807',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(confDir, 'log4j2.properties'),
      [
        'status = warn',
        'appender.out.type = Console',
        'appender.out.name = out',
        'appender.out.layout.type = PatternLayout',
        'appender.out.layout.pattern = [%d] %p %m (%c)%n',
        'rootLogger.level = info',
        'rootLogger.appenderRef.out.ref = out',
        'logger.kafka.name = kafka',
        'logger.kafka.level = warn',
        'logger.controller.name = org.apache.kafka',
        'logger.controller.level = warn',
        '',
      ].join('\n'),
    );
  }

  const service: StackService = {
    name: 'kafka',
    version: `Apache Kafka ${versions.kafka} (KRaft)`,
    address: `${host}:${port}`,
    logFile,
    exclusive: true,
    startTimeoutSeconds: 90,
    async install() {
      if (isNonEmptyDir(libs)) return;
      mavenCopy(
        context,
        `kafka-${versions.kafka}`,
        [
          { groupId: 'org.apache.kafka', artifactId: 'kafka_2.13', version: versions.kafka },
          // kafka_2.13 brings slf4j 1.7; a direct slf4j 2 dependency wins and binds log4j 2.
          { groupId: 'org.slf4j', artifactId: 'slf4j-api', version: versions.slf4j },
          { groupId: 'org.apache.logging.log4j', artifactId: 'log4j-slf4j2-impl', version: versions.log4j },
          { groupId: 'org.apache.logging.log4j', artifactId: 'log4j-core', version: versions.log4j },
        ],
        libs,
      );
    },
    async start() {
      const java = findJava();
      writeConfig();
      const classpath = `${libs}/*`;
      if (!existsSync(join(dataDir, 'meta.properties'))) {
        const clusterId = existsSync(clusterIdFile)
          ? readFileSync(clusterIdFile, 'utf8').trim()
          : execFileSync(java, ['-cp', classpath, 'kafka.tools.StorageTool', 'random-uuid'], {
              encoding: 'utf8',
            })
              .trim()
              .split('\n')
              .pop()!;
        writeFileSync(clusterIdFile, `${clusterId}\n`);
        execFileSync(
          java,
          ['-cp', classpath, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', properties],
          {
            stdio: ['ignore', 'ignore', 'inherit'],
          },
        );
      }
      startDetached({
        command: java,
        args: [
          `-Xms${process.env.STACK_KAFKA_HEAP ?? '512m'}`,
          `-Xmx${process.env.STACK_KAFKA_HEAP ?? '512m'}`,
          '-XX:+UseG1GC',
          `-Dlog4j2.configurationFile=${join(confDir, 'log4j2.properties')}`,
          '-cp',
          classpath,
          'kafka.Kafka',
          properties,
        ],
        logFile,
        pidFile,
      });
    },
    pid: () => runningPid(pidFile, marker),
    async isHealthy() {
      const admin = new Kafka({
        clientId: 'deeplens-stack',
        brokers: [service.address],
        logLevel: logLevel.NOTHING,
        retry: { retries: 0 },
        connectionTimeout: 1000,
      }).admin();
      try {
        await admin.connect();
        const cluster = await admin.describeCluster();
        return cluster.brokers.length >= (brokers === 1 ? 1 : brokers);
      } finally {
        await admin.disconnect();
      }
    },
    stop: () => stopByPidFile(pidFile, marker, 30_000),
  };
  return service;
}
