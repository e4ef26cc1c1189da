import { appendFile, readFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

export const benchDir = import.meta.dirname;

/** Cleanups registered like a test's `t.after`, run at the end of a benchmark. */
export function scope() {
  const cleanups: (() => unknown)[] = [];
  return {
    after: (fn: () => unknown) => void cleanups.push(fn),
    async close() {
      for (const fn of cleanups.reverse()) await fn();
    },
  };
}

export function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return `${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
}

export type Row = { measure: string; value: string; limit?: string; ratio?: string; bar?: string; verdict?: string };

/** Prints a table and appends it, dated and with the machine, to `bench/RESULTS.md`. */
export async function report(title: string, rows: Row[], notes: string[] = []): Promise<void> {
  const header = '| measure | value | limit (same run) | ratio | bar | verdict |\n| --- | --- | --- | --- | --- | --- |';
  const lines = rows.map((r) => `| ${r.measure} | ${r.value} | ${r.limit ?? ''} | ${r.ratio ?? ''} | ${r.bar ?? ''} | ${r.verdict ?? ''} |`);
  const text = [`\n## ${title} — ${new Date().toISOString()}`, `Machine: ${machine()}`, '', header, ...lines, ...(notes.length ? ['', ...notes.map((n) => `- ${n}`)] : []), ''].join('\n');
  console.log(text);
  const results = join(benchDir, 'RESULTS.md');
  const existing = await readFile(results, 'utf8').catch(() => '');
  if (!existing) await appendFile(results, '# Benchmark results\n\nEach run appends its table here (`npm run bench`). Ratios compare DeepLens against a limit measured in the same run on the same machine.\n');
  await appendFile(results, text);
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
