import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as Minio from 'minio';
import { runningPid, startDetached, stopByPidFile } from '../processes.ts';
import { findJava, isNonEmptyDir, mavenCopy, versions, type StackContext } from '../stackContext.ts';
import type { StackService } from '../stackService.ts';

/**
 * S3-compatible storage: S3Proxy over a local folder. One jar, one port, AWS v2/v4
 * signatures — what the `minio` client speaks.
 */
export function objectStoreService(context: StackContext): StackService {
  const libs = join(context.cacheDir, `s3proxy-${versions.s3proxy}`);
  const dataDir = join(context.dataDir, 's3');
  const confFile = join(context.dir, 'conf', 's3proxy.properties');
  const pidFile = join(context.runDir, 's3proxy.pid');
  const logFile = join(context.logDir, 's3proxy.log');
  const marker = 's3proxy';
  const { config, host } = context;
  const port = context.ports.s3;

  return {
    name: 'object-store',
    version: `S3Proxy ${versions.s3proxy} (filesystem)`,
    address: `http://${host}:${port}`,
    logFile,
    startTimeoutSeconds: 60,
    async install() {
      if (isNonEmptyDir(libs)) return;
      mavenCopy(
        context,
        `s3proxy-${versions.s3proxy}`,
        [
          {
            groupId: 'org.gaul',
            artifactId: 's3proxy',
            version: versions.s3proxy,
            classifier: 'jar-with-dependencies',
          },
        ],
        libs,
        { transitive: false },
      );
    },
    async start() {
      mkdirSync(dataDir, { recursive: true });
      mkdirSync(join(context.dir, 'conf'), { recursive: true });
      writeFileSync(
        confFile,
        [
          `s3proxy.endpoint=http://${host}:${port}`,
          's3proxy.authorization=aws-v2-or-v4',
          `s3proxy.identity=${config.S3_ACCESS_KEY}`,
          `s3proxy.credential=${config.S3_SECRET_KEY}`,
          'jclouds.provider=filesystem',
          `jclouds.filesystem.basedir=${dataDir}`,
          '',
        ].join('\n'),
        { mode: 0o600 },
      );
      startDetached({
        command: findJava(),
        args: [
          `-Xmx${process.env.STACK_S3_HEAP ?? '256m'}`,
          '-cp',
          `${libs}/*`,
          'org.gaul.s3proxy.Main',
          '--properties',
          confFile,
        ],
        logFile,
        pidFile,
      });
    },
    pid: () => runningPid(pidFile, marker),
    async isHealthy() {
      const client = new Minio.Client({
        endPoint: host,
        port,
        useSSL: false,
        accessKey: config.S3_ACCESS_KEY,
        secretKey: config.S3_SECRET_KEY,
        region: config.S3_REGION,
      });
      await client.listBuckets();
      return true;
    },
    stop: () => stopByPidFile(pidFile, marker),
  };
}
