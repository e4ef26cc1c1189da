import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defaultQdrantUrl, loadConfig, type Config } from '@deeplens/platform/config';

/** Versions of the services the stack runs; each can be overridden for a try-out. */
export const versions = {
  kafka: process.env.STACK_KAFKA_VERSION ?? '4.1.1',
  log4j: '2.25.3',
  slf4j: '2.0.17',
  apicurio: process.env.STACK_APICURIO_VERSION ?? '3.0.9',
  s3proxy: process.env.STACK_S3PROXY_VERSION ?? '2.6.0',
  postgres: process.env.STACK_POSTGRES_VERSION ?? '15',
  qdrant: '1.18.3',
};

export interface StackContext {
  config: Config;
  /** Root of everything the stack writes: `cache/`, `data/`, `logs/`, `run/`. Git-ignored. */
  dir: string;
  cacheDir: string;
  dataDir: string;
  logDir: string;
  runDir: string;
  ports: {
    kafka: number;
    kafkaController: number;
    registry: number;
    postgres: number;
    s3: number;
    /** Qdrant's HTTP port (`QDRANT_URL`) and gRPC port (`STACK_QDRANT_GRPC_PORT`, else HTTP + 1). */
    qdrant: number;
    qdrantGrpc: number;
  };
  /** The bind address of every service: loopback unless `STACK_BIND_HOST` says otherwise. */
  host: string;
}

export class StackError extends Error {
  override readonly name = 'StackError';
}

const repoRoot = resolve(import.meta.dirname, '..', '..');

function portOf(url: string, fallback: number): number {
  const port = new URL(url.includes('://') ? url : `tcp://${url}`).port;
  return port ? Number(port) : fallback;
}

export function createStackContext(env = process.env): StackContext {
  const config = loadConfig(env);
  // The real path: a checkout whose `.stack` links to another's shares its processes, which
  // are recognised by the paths in their command lines.
  const named = resolve(repoRoot, env.STACK_DIR ?? '.stack');
  const dir = existsSync(named) ? realpathSync(named) : named;
  const context: StackContext = {
    config,
    dir,
    // Shareable between stacks: a second, private stack (fault tests) reuses the downloads.
    cacheDir: env.STACK_CACHE_DIR ? resolve(env.STACK_CACHE_DIR) : join(dir, 'cache'),
    dataDir: join(dir, 'data'),
    logDir: join(dir, 'logs'),
    runDir: join(dir, 'run'),
    ports: {
      kafka: portOf(config.KAFKA_BROKERS[0] ?? '127.0.0.1:19092', 19092),
      kafkaController: Number(env.STACK_KAFKA_CONTROLLER_PORT ?? 19093),
      registry: portOf(config.SCHEMA_REGISTRY_URL, 18081),
      postgres: portOf(config.DATABASE_URL, 15432),
      s3: portOf(config.S3_ENDPOINT, 18333),
      qdrant: portOf(config.QDRANT_URL ?? defaultQdrantUrl, 16333),
      qdrantGrpc: Number(
        env.STACK_QDRANT_GRPC_PORT ?? portOf(config.QDRANT_URL ?? defaultQdrantUrl, 16333) + 1,
      ),
    },
    host: env.STACK_BIND_HOST ?? '127.0.0.1',
  };
  for (const d of [context.cacheDir, context.dataDir, context.logDir, context.runDir])
    mkdirSync(d, { recursive: true });
  return context;
}

/** The `java` to run a service with: `STACK_JAVA_HOME`, `JAVA_HOME`, then the PATH; must be 17 or newer. */
export function findJava(): string {
  const candidates = [process.env.STACK_JAVA_HOME, process.env.JAVA_HOME]
    .filter((h): h is string => Boolean(h))
    .map((h) => join(h, 'bin', 'java'))
    .concat('java');
  for (const java of candidates) {
    const probe = spawnSync(java, ['-version'], { encoding: 'utf8' });
    if (probe.status !== 0) continue;
    const major = /version "(\d+)/.exec(probe.stderr)?.[1];
    if (major && Number(major) >= 17) return java;
  }
  throw new StackError(
    'no Java 17 or newer found: install one (Debian: `apt-get install -y openjdk-17-jre-headless`) or set STACK_JAVA_HOME',
  );
}

export interface MavenArtifact {
  groupId: string;
  artifactId: string;
  version: string;
  type?: string;
  classifier?: string;
}

/**
 * Resolves artifacts (and their dependencies) from Maven Central with `mvn` into
 * `outputDir`, using a Maven repository inside the stack cache so nothing lands elsewhere.
 */
export function mavenCopy(
  context: StackContext,
  name: string,
  artifacts: MavenArtifact[],
  outputDir: string,
  options: { transitive?: boolean } = {},
): void {
  if (spawnSync('mvn', ['-v'], { encoding: 'utf8' }).status !== 0) {
    throw new StackError(
      'Maven (`mvn`) is needed to fetch the service jars: install it (Debian: `apt-get install -y maven`)',
    );
  }
  const work = join(context.cacheDir, 'maven-projects', name);
  mkdirSync(work, { recursive: true });
  const deps = artifacts
    .map(
      (a) =>
        `<dependency><groupId>${a.groupId}</groupId><artifactId>${a.artifactId}</artifactId><version>${a.version}</version>` +
        (a.type ? `<type>${a.type}</type>` : '') +
        (a.classifier ? `<classifier>${a.classifier}</classifier>` : '') +
        '</dependency>',
    )
    .join('\n    ');
  writeFileSync(
    join(work, 'pom.xml'),
    `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>deeplens.stack</groupId><artifactId>${name}</artifactId><version>1</version>
  <dependencies>
    ${deps}
  </dependencies>
</project>
`,
  );
  const mvn = (args: string[]) =>
    execFileSync(
      'mvn',
      ['-q', '-B', '-Dstyle.color=never', `-Dmaven.repo.local=${join(context.cacheDir, 'm2')}`, ...args],
      {
        cwd: work,
        stdio: ['ignore', 'pipe', 'pipe'],
        encoding: 'utf8',
      },
    );
  try {
    if (options.transitive === false) {
      // A lone artifact (an archive, a fat jar): its own POM may need parents we do not want.
      for (const a of artifacts) {
        const coordinates = [a.groupId, a.artifactId, a.version, a.type ?? 'jar', a.classifier]
          .filter(Boolean)
          .join(':');
        mvn(['dependency:copy', `-Dartifact=${coordinates}`, `-DoutputDirectory=${outputDir}`]);
      }
    } else {
      mvn(['dependency:copy-dependencies', `-DoutputDirectory=${outputDir}`, '-DincludeScope=runtime']);
    }
  } catch (error) {
    const output = (error as { stdout?: string; stderr?: string }).stdout ?? '';
    console.error(
      output
        .split('\n')
        .filter((l) => l.includes('ERROR'))
        .slice(0, 5)
        .join('\n'),
    );
    throw new StackError(
      `could not fetch ${name} from Maven Central (${artifacts.map((a) => `${a.groupId}:${a.artifactId}:${a.version}`).join(', ')})`,
      { cause: error },
    );
  }
}

export function isNonEmptyDir(path: string): boolean {
  return existsSync(path) && readdirSync(path).length > 0;
}
