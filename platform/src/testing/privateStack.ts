import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TestContext } from 'node:test';
import { freePort } from './freePort.ts';

const repoRoot = join(import.meta.dirname, '..', '..', '..');

export type StackServiceName = 'kafka' | 'schema-registry' | 'postgres' | 'object-store' | 'qdrant';

export type PrivateStack = {
  /** The addresses of this stack, as DeepLens's configuration variables. */
  env: Record<string, string>;
  stop(service: StackServiceName): Promise<void>;
  start(service: StackServiceName): Promise<void>;
};

function runStack(env: Record<string, string>, args: string[]): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'stack/src/main.ts', ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolvePromise() : reject(new Error(`stack ${args.join(' ')} exited ${code}`)),
    );
  });
}

/**
 * A second, private stack (its own data, ports and processes; the downloads are shared), for
 * tests that stop and start Kafka, PostgreSQL or the object store without disturbing the other
 * tests running on the default stack. Taken down when the test ends.
 */
export async function startPrivateStack(t: Pick<TestContext, 'after'>): Promise<PrivateStack> {
  const [kafka, controller, registry, postgres, s3, qdrant, qdrantGrpc] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const env: Record<string, string> = {
    STACK_DIR: await mkdtemp(join(tmpdir(), 'deeplens-private-stack-')),
    STACK_CACHE_DIR:
      process.env.STACK_CACHE_DIR ?? resolve(repoRoot, process.env.STACK_DIR ?? '.stack', 'cache'),
    KAFKA_BROKERS: `127.0.0.1:${kafka}`,
    STACK_KAFKA_CONTROLLER_PORT: String(controller),
    SCHEMA_REGISTRY_URL: `http://127.0.0.1:${registry}/apis/ccompat/v7`,
    DATABASE_URL: `postgres://deeplens:deeplens@127.0.0.1:${postgres}/deeplens`,
    S3_ENDPOINT: `http://127.0.0.1:${s3}`,
    QDRANT_URL: `http://127.0.0.1:${qdrant}`,
    STACK_QDRANT_GRPC_PORT: String(qdrantGrpc),
  };
  t.after(() => runStack(env, ['down']));
  await runStack(env, ['up']);
  return {
    env,
    stop: (service) => runStack(env, ['down', service]),
    start: (service) => runStack(env, ['up', service]),
  };
}
