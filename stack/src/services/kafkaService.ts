import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { runningPid, startDetached, stopByPidFile } from '../processes.ts';
import { findJava, isNonEmptyDir, mavenCopy, versions, type StackContext } from '../stackContext.ts';
import type { StackService } from '../stackService.ts';

/** Apache Kafka in KRaft mode (one node, broker + controller), from the Maven Central jars. */
export function kafkaService(context: StackContext): StackService {
  const home = join(context.cacheDir, `kafka-${versions.kafka}`);
  const libs = join(home, 'libs');
  const dataDir = join(context.dataDir, 'kafka');
  const confDir = join(context.dir, 'conf', 'kafka');
  const pidFile = join(context.runDir, 'kafka.pid');
  const logFile = join(context.logDir, 'kafka.log');
  const { host } = context;
  const { kafka: port, kafkaController: controllerPort } = context.ports;
  const marker = `kafka.Kafka`;
  const properties = join(confDir, 'server.properties');

  function writeConfig(): void {
    mkdirSync(confDir, { recursive: true });
    writeFileSync(
      properties,
      [
        'process.roles=broker,controller',
        'node.id=1',
        `controller.quorum.voters=1@${host}:${controllerPort}`,
        `listeners=PLAINTEXT://${host}:${port},CONTROLLER://${host}:${controllerPort}`,
        `advertised.listeners=PLAINTEXT://${host}:${port}`,
        'controller.listener.names=CONTROLLER',
        'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
        'inter.broker.listener.name=PLAINTEXT',
        `log.dirs=${dataDir}`,
        // The log of record: DeepLens creates its topics itself, with retention.ms=-1.
        'auto.create.topics.enable=false',
        'num.partitions=1',
        'offsets.topic.replication.factor=1',
        'offsets.topic.num.partitions=10',
        'transaction.state.log.replication.factor=1',
        'transaction.state.log.min.isr=1',
        'share.coordinator.state.topic.replication.factor=1',
        'share.coordinator.state.topic.min.isr=1',
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
        const clusterId = execFileSync(java, ['-cp', classpath, 'kafka.tools.StorageTool', 'random-uuid'], {
          encoding: 'utf8',
        })
          .trim()
          .split('\n')
          .pop()!;
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
        return cluster.brokers.length > 0;
      } finally {
        await admin.disconnect();
      }
    },
    stop: () => stopByPidFile(pidFile, marker, 30_000),
  };
  return service;
}
