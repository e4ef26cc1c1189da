/**
 * Runs the test tiers with Node's own test runner.
 *   unit — pure tests, no services;   int / e2e — need the stack, which this script starts.
 *   all  — every tier (what CI and the README's `npm test` run).
 * Extra arguments are file filters: `npm run test:unit -- deciders` runs matching files only.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
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
// Each part's report is also written to a file, so that a failure in the first part is
// repeated at the very end of the output, after the cluster part (CI shows the end).
const reportDir = join(root, '.stack', 'test-reports');
mkdirSync(reportDir, { recursive: true });
const runTests = (part: string, selected: string[], concurrency: number) => {
  const report = join(reportDir, `${part}.txt`);
  rmSync(report, { force: true });
  if (selected.length === 0) return 0;
  return (
    spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--test',
        `--test-concurrency=${concurrency}`,
        // A test (its hooks included) that hangs fails after 15 minutes instead of holding the
        // run until CI's limit; the longest take about 2 minutes.
        '--test-timeout=900000',
        '--test-reporter=spec',
        '--test-reporter-destination=stdout',
        '--test-reporter=spec',
        `--test-reporter-destination=${report}`,
        ...selected,
      ],
      { cwd: root, stdio: 'inherit', env },
    ).status ?? 1
  );
};
const status = runTests(
  'main',
  files.filter((f) => !isClusterTest(f)),
  2,
);
const clusterStatus = runTests('cluster', files.filter(isClusterTest), 1);
for (const [part, partStatus] of [
  ['main', status],
  ['cluster', clusterStatus],
] as const) {
  const report = join(reportDir, `${part}.txt`);
  if (partStatus === 0 || !existsSync(report)) continue;
  const text = readFileSync(report, 'utf8');
  const failures = text.lastIndexOf('failing tests:');
  console.error(
    `\n── the ${part} part failed; its failures again (whole report: ${relative(root, report)}) ──\n` +
      (failures >= 0 ? text.slice(failures).slice(0, 20_000) : text.slice(-4000)),
  );
}
process.exit(status || clusterStatus);
