import { appendFile, readdir, readFile } from 'node:fs/promises';
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

/** p50/p99/max of latencies in ms, formatted for a table. */
export function latencySummary(samples: number[]): { p50: number; p99: number; max: number; n: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? Number.NaN, n: sorted.length };
}

export const ms = (value: number) => `${value.toFixed(value < 10 ? 2 : 1)} ms`;

/**
 * Runs `total` calls of `call` from `concurrency` closed-loop clients (each starts its next call
 * when the previous answered) and returns each call's latency in ms, in completion order.
 */
export async function closedLoop(concurrency: number, total: number, call: (i: number) => Promise<void>): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        const start = performance.now();
        await call(i);
        latencies.push(performance.now() - start);
      }
    }),
  );
  return latencies;
}

/**
 * The live processes whose environment holds `marker` (e.g. `KAFKA_TOPIC_PREFIX=t1a2b.`): their
 * pid, entry point (`write-api/src/main.ts`) and CPU seconds (user + system) used so far.
 */
export async function processesWithMarker(marker: string): Promise<{ pid: number; entry: string; cpuSeconds: number }[]> {
  const ticksPerSecond = 100; // USER_HZ on Linux
  const out = [];
  for (const pid of await readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const environ = await readFile(`/proc/${pid}/environ`, 'latin1');
      if (!environ.split('\0').includes(marker)) continue;
      const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
      out.push({ pid: Number(pid), entry: cmdline.find((a) => a.endsWith('.ts')) ?? cmdline.join(' '), cpuSeconds });
    } catch {
      // The process ended while we looked, or is not ours to read.
    }
  }
  return out;
}

/** CPU seconds used so far per entry point, over the processes `processesWithMarker` finds. */
export async function processCpuSeconds(marker: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const p of await processesWithMarker(marker)) out.set(p.entry, (out.get(p.entry) ?? 0) + p.cpuSeconds);
  return out;
}

/** CPU seconds of this process (user + system). */
export function ownCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

type CpuProfileNode = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] };
type CpuProfile = { nodes: CpuProfileNode[]; samples: number[]; timeDeltas: number[] };

/**
 * The functions with the most self time in a V8 `.cpuprofile` (from `node --cpu-prof`), and the
 * share of samples per package/file group, to point at a bottleneck.
 */
export async function summarizeCpuProfile(path: string, top = 12): Promise<{ functions: string[]; groups: string[]; seconds: number }> {
  const profile = JSON.parse(await readFile(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfMs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfMs.set(id, (selfMs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000));
  const total = [...selfMs.values()].reduce((a, b) => a + b, 0);
  const byFunction = new Map<string, number>();
  const byGroup = new Map<string, number>();
  for (const [id, time] of selfMs) {
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    const file = frame.url.replace(/^file:\/\//, '').replace(/^.*\/work\/main\//, '');
    const key = `${frame.functionName || '(anonymous)'} ${file ? `${file}:${frame.lineNumber + 1}` : ''}`.trim();
    byFunction.set(key, (byFunction.get(key) ?? 0) + time);
    const group = !file ? frame.functionName || '(native)' : file.includes('node_modules/') ? `npm:${/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file)?.[1] ?? '?'}` : file.startsWith('node:') ? 'node core' : file.split('/')[0]!;
    byGroup.set(group, (byGroup.get(group) ?? 0) + time);
  }
  const share = ([name, time]: [string, number]) => `${((100 * time) / total).toFixed(1)}% ${name}`;
  return {
    functions: [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top).map(share),
    groups: [...byGroup].sort((a, b) => b[1] - a[1]).slice(0, top).map(share),
    seconds: total / 1000,
  };
}
