import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
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
 * Apicurio Registry (the ready Quarkus app from Maven Central), used through its
 * Confluent-compatible API. Schemas are stored in our PostgreSQL (database `apicurio`), so a
 * schema id written into a Kafka record stays valid across restarts — the log is kept forever.
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
      const jdbc = `jdbc:postgresql://${db.hostname}:${db.port || 5432}/apicurio`;
      startDetached({
        command: findJava(),
        args: [
          `-Xmx${process.env.STACK_REGISTRY_HEAP ?? '384m'}`,
          `-Dquarkus.http.host=${context.host}`,
          `-Dquarkus.http.port=${port}`,
          // The management interface would otherwise listen on 0.0.0.0:9000.
          '-Dquarkus.management.enabled=false',
          '-Dapicurio.storage.kind=sql',
          '-Dapicurio.storage.sql.kind=postgresql',
          `-Dapicurio.datasource.url=${jdbc}`,
          `-Dapicurio.datasource.username=${decodeURIComponent(db.username)}`,
          `-Dapicurio.datasource.password=${decodeURIComponent(db.password)}`,
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
