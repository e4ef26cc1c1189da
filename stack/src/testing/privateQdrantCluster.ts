import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePortRun } from '@deeplens/platform/testing/freePort';
import { runStack } from './privateKafkaCluster.ts';

const repoRoot = join(import.meta.dirname, '..', '..', '..');

export type PrivateQdrantCluster = {
  /** `http://127.0.0.1:<port>` of nodes 1, 2 and 3. */
  urls: string[];
  /** Kills node `node` (1-based) with SIGKILL, as a machine that dies. */
  kill(node: number): void;
  /** Starts whatever nodes are not running (`npm run stack -- up qdrant`) and waits until healthy. */
  up(): Promise<void>;
};

/**
 * A three-node Qdrant cluster of the test's own (`up qdrant --qdrant-nodes 3` in a temporary
 * STACK_DIR, free ports), stopped and removed when the test ends. Shares the stack's cache.
 */
export async function startPrivateQdrantCluster(t: {
  after(fn: () => Promise<void>): void;
}): Promise<PrivateQdrantCluster> {
  const base = await freePortRun(8);
  const dir = await mkdtemp(join(tmpdir(), 'deeplens-qdrant-cluster-'));
  const env = {
    STACK_DIR: dir,
    STACK_CACHE_DIR:
      process.env.STACK_CACHE_DIR ?? resolve(repoRoot, process.env.STACK_DIR ?? '.stack', 'cache'),
    QDRANT_URL: `http://127.0.0.1:${base}`,
    STACK_QDRANT_GRPC_PORT: String(base + 1),
  };
  t.after(async () => {
    await runStack(env, ['down', 'qdrant']);
    await rm(dir, { recursive: true, force: true });
  });
  await runStack(env, ['up', 'qdrant', '--qdrant-nodes', '3']);
  const pidOf = (node: number) =>
    Number(
      readFileSync(join(dir, 'run', `qdrant-${node}.pid`), 'utf8')
        .trim()
        .split('\n')[0],
    );
  return {
    urls: [base, base + 3, base + 6].map((port) => `http://127.0.0.1:${port}`),
    kill(node) {
      const pid = pidOf(node);
      try {
        process.kill(-pid, 'SIGKILL'); // started detached: its own process group
      } catch {
        process.kill(pid, 'SIGKILL');
      }
    },
    up: () => runStack(env, ['up', 'qdrant']),
  };
}
