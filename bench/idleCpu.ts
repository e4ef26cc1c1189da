/**
 * Idle CPU: every DeepLens process started as `startDeepLens` starts them, no traffic at all,
 * and the CPU each spends (user + system, from /proc/<pid>/stat) over a window after a settle.
 * What an idle process spends is its polling, heartbeats, timers and metrics: overhead that an
 * ingest run also pays, spread over its images (issue #18).
 *   npx tsx bench/idleCpu.ts [seconds=60] [settle=20] [--profile]
 * Prints ms of CPU per second of wall time (= thousandths of a core) per process; no bar, and
 * nothing appended to RESULTS.md (the figures go to docs/benchmarks.md by hand).
 */
import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDeepLens } from '@deeplens/platform/testing/deeplensProcesses';
import { processCpuSeconds, scope, windowedCpuProfiles } from './benchSupport.ts';
import { deleteTopicsWithPrefix, processNameOf } from './deeplensApi.ts';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const seconds = Number(args[0] ?? 60);
const settle = Number(args[1] ?? 20);
const profile = process.argv.includes('--profile');

const s = scope();
try {
  const topics: { prefix?: string } = {};
  s.after(() => (topics.prefix ? deleteTopicsWithPrefix(topics.prefix) : undefined));
  const profiles = await windowedCpuProfiles(profile);
  const deeplens = await startDeepLens(s, { env: profiles.env });
  topics.prefix = deeplens.env.KAFKA_TOPIC_PREFIX!;
  const marker = `KAFKA_TOPIC_PREFIX=${topics.prefix}`;
  // Startup work (migrations, JIT, catch-up) is over before the window opens.
  await sleep(settle * 1000);
  await profiles.start(marker);
  const before = await processCpuSeconds(marker);
  const start = performance.now();
  await sleep(seconds * 1000);
  const after = await processCpuSeconds(marker);
  const wall = (performance.now() - start) / 1000;
  profiles.stop();
  const rows = [...after]
    .filter(([entry]) => entry.endsWith('.ts'))
    .map(([entry, cpu]) => [processNameOf(entry), (1000 * (cpu - (before.get(entry) ?? 0))) / wall] as const)
    .sort((a, b) => b[1] - a[1]);
  console.log(`Idle CPU over ${wall.toFixed(1)} s (after ${settle} s settle), ms of CPU per second:`);
  for (const [name, msPerSecond] of rows) console.log(`  ${name.padEnd(12)} ${msPerSecond.toFixed(1)}`);
  console.log(`  ${'total'.padEnd(12)} ${rows.reduce((n, [, v]) => n + v, 0).toFixed(1)}`);
  console.log(
    `load average (1 / 5 / 15 min): ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' / ')}`,
  );
  await profiles.print(processNameOf);
} finally {
  await s.close();
}
