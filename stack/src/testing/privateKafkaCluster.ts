import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TestContext } from 'node:test';
import { freePortRun } from '@deeplens/platform/testing/freePort';
import { runningPid } from '../processes.ts';

const repoRoot = join(import.meta.dirname, '..', '..', '..');

/** Runs `npm run stack -- <args>` (the stack's own entry point) with `env`; rejects on failure. */
export function runStack(env: Record<string, string>, args: string[]): Promise<void> {
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

export type PrivateKafkaCluster = {
  /** `127.0.0.1:<port>` of nodes 1, 2 and 3. */
  brokers: string[];
  /** The pid of node `node` (1-based) as the stack recorded it. */
  pidOf(node: number): number;
};

/**
 * A three-broker KRaft cluster of the test's own (`up kafka --brokers 3` in a temporary
 * STACK_DIR, free ports), stopped and removed when the test ends. Shares the stack's cache.
 */
export async function startPrivateKafkaCluster(t: Pick<TestContext, 'after'>): Promise<PrivateKafkaCluster> {
  const base = await freePortRun(5);
  const dir = await mkdtemp(join(tmpdir(), 'deeplens-kafka-cluster-'));
  const env = {
    STACK_DIR: dir,
    STACK_CACHE_DIR:
      process.env.STACK_CACHE_DIR ?? resolve(repoRoot, process.env.STACK_DIR ?? '.stack', 'cache'),
    KAFKA_BROKERS: `127.0.0.1:${base}`,
    STACK_KAFKA_HEAP: '256m',
  };
  const pidOf = (node: number) =>
    Number(
      readFileSync(join(dir, 'run', `kafka-${node}.pid`), 'utf8')
        .trim()
        .split('\n')[0],
    );
  t.after(async () => {
    // A throw-away cluster whose folder is deleted next: no controlled shutdown to wait for (with
    // a node killed by the test, the last ones wait out their grace time for a quorum).
    for (const node of [1, 2, 3]) {
      // Only a node still running from this folder (a pid file outlives the node the test killed).
      const pid = runningPid(join(dir, 'run', `kafka-${node}.pid`), join(dir, 'conf', `kafka-${node}`));
      try {
        if (pid !== undefined) process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    await runStack(env, ['down', 'kafka']);
    await rm(dir, { recursive: true, force: true });
  });
  await runStack(env, ['up', 'kafka', '--brokers', '3']);
  return {
    brokers: [base, base + 2, base + 4].map((port) => `127.0.0.1:${port}`),
    pidOf,
  };
}
