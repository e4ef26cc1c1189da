/**
 * Every benchmark in sequence, each in its own process (as `npx tsx bench/<name>.ts` runs it),
 * so one's memory and threads never weigh on the next. Each appends its own table to
 * `bench/RESULTS.md`; this appends the durations. A failed benchmark does not stop the others.
 *   npm run bench [-- --full]
 * The scaling table runs at 10 k and 100 k vectors; `--full` adds its 1 M row (the ≤ 4 GiB bar;
 * about half an hour more on a quiet 2-core machine), which the 30-minute bar does not cover.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { benchDir, report, type Row } from './benchSupport.ts';

const full = process.argv.includes('--full');
const benchmarks: { file: string; args: string[] }[] = [
  { file: 'embedder.ts', args: [] },
  { file: 'ingest.ts', args: [] },
  { file: 'spaceMove.ts', args: [] },
  { file: 'uploadLatency.ts', args: [] },
  { file: 'searchHttp.ts', args: [] },
  { file: 'search.ts', args: ['100000', 'clustered'] },
  // The worst case for a graph index, at a size that keeps the whole run under 30 minutes.
  { file: 'search.ts', args: ['20000', 'random'] },
  { file: 'scaling.ts', args: ['--sizes', full ? '10000,100000,1000000' : '10000,100000'] },
  { file: 'kafka.ts', args: [] },
  { file: 'replay.ts', args: [] },
  { file: 'qdrant.ts', args: ['--n', '100000', '--dim', '256'] },
];

function runBenchmark(file: string, args: string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn('npx', ['tsx', join('bench', file), ...args], {
      cwd: join(benchDir, '..'),
      stdio: 'inherit',
    });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

const limitMinutes = 30;
const rows: Row[] = [];
const start = performance.now();
let failed = 0;
for (const { file, args } of benchmarks) {
  const label = [file, ...args].join(' ');
  if (!existsSync(join(benchDir, file))) {
    rows.push({ measure: label, value: 'not present, skipped' });
    continue;
  }
  console.log(`\n▶ bench/${label}`);
  const began = performance.now();
  const code = await runBenchmark(file, args);
  const minutes = (performance.now() - began) / 60_000;
  if (code !== 0) failed++;
  rows.push({
    measure: label,
    value: `${minutes.toFixed(1)} min`,
    verdict: code === 0 ? 'ran' : `failed (exit ${code})`,
  });
}
const totalMinutes = (performance.now() - start) / 60_000;
rows.push(
  full
    ? {
        measure: 'all benchmarks, with the 1 M scaling row (`--full`)',
        value: `${totalMinutes.toFixed(1)} min`,
        verdict: 'informative',
      }
    : {
        measure: 'all benchmarks',
        value: `${totalMinutes.toFixed(1)} min`,
        limit: `${limitMinutes} min`,
        ratio: (totalMinutes / limitMinutes).toFixed(2),
        bar: `< ${limitMinutes} min`,
        verdict: totalMinutes < limitMinutes ? 'pass' : 'miss',
      },
);
await report('Full benchmark run (`npm run bench`)', rows);
process.exitCode = failed > 0 ? 1 : 0;
