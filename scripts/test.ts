/**
 * Runs the test tiers with Node's own test runner.
 *   unit — pure tests, no services;   int / e2e — need the stack, which this script starts.
 *   all  — every tier (what CI and the README's `npm test` run).
 * Extra arguments are file filters: `npm run test:unit -- deciders` runs matching files only.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { loadConfig } from '@deeplens/platform/config';

const root = join(import.meta.dirname, '..');
const [tierArg = 'all', ...filters] = process.argv.slice(2);
const tiers = tierArg === 'all' ? ['unit', 'int', 'e2e'] : tierArg.split(',');
const skip = new Set(['node_modules', '.stack', '.git', 'dist']);

function findTests(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (skip.has(name)) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) findTests(path, out);
    else if (tiers.some((t) => name.endsWith(`.${t}.test.ts`))) out.push(relative(root, path));
  }
  return out;
}

const files = findTests(root)
  .filter((f) => filters.length === 0 || filters.some((q) => f.includes(q)))
  .sort();
if (files.length === 0) {
  console.error(`no ${tiers.join('/')} test files found`);
  process.exit(1);
}

const needsStack = files.some((f) => !f.endsWith('.unit.test.ts'));
if (needsStack) {
  const up = spawnSync('npx', ['tsx', 'stack/src/main.ts', 'up'], { cwd: root, stdio: 'inherit' });
  if (up.status !== 0) process.exit(up.status ?? 1);
}

// The Qdrant adapter's tests (contract, crash, journey) run against the stack's Qdrant when it
// runs one; they are skipped, saying why, only where there is no Qdrant binary at all.
const env: Record<string, string | undefined> = { ...process.env, NODE_ENV: 'test' };
if (needsStack && !env.QDRANT_URL) {
  const qdrantUrl = loadConfig({ ...env, VECTOR_STORE: 'qdrant' }).QDRANT_URL!;
  const answered = await fetch(`${qdrantUrl}/collections`, { signal: AbortSignal.timeout(2000) })
    .then((r) => r.ok)
    .catch(() => false);
  if (answered) env.QDRANT_URL = qdrantUrl;
  else console.warn(`test: no Qdrant at ${qdrantUrl}; the tests against Qdrant are skipped`);
}

// Tests that start a three-broker Kafka cluster of their own (stack/src/testing/privateKafkaCluster.ts:
// broker kill, cluster config) run after the others, one at a time, so their three JVMs do not
// compete with the rest of the suite; DEEPLENS_CLUSTER=0 skips them.
const isClusterTest = (f: string) =>
  readFileSync(join(root, f), 'utf8').includes('startPrivateKafkaCluster(');
const runTests = (selected: string[], concurrency: number) =>
  selected.length === 0
    ? 0
    : (spawnSync(
        process.execPath,
        [
          '--import',
          'tsx',
          '--test',
          `--test-concurrency=${concurrency}`,
          '--test-reporter=spec',
          ...selected,
        ],
        { cwd: root, stdio: 'inherit', env },
      ).status ?? 1);
const status = runTests(
  files.filter((f) => !isClusterTest(f)),
  2,
);
const clusterStatus = runTests(files.filter(isClusterTest), 1);
process.exit(status || clusterStatus);
