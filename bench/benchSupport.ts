import { appendFile, mkdtemp, readdir, readFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

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
  const load = loadavg()
    .map((l) => l.toFixed(1))
    .join(' / ');
  return `${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}; load average (1 / 5 / 15 min) at report: ${load}`;
}

export type Row = {
  measure: string;
  value: string;
  limit?: string;
  ratio?: string;
  bar?: string;
  verdict?: string;
};

/** Prints a table and appends it, dated and with the machine, to `bench/RESULTS.md`. */
export async function report(title: string, rows: Row[], notes: string[] = []): Promise<void> {
  const header =
    '| measure | value | limit (same run) | ratio | bar | verdict |\n| --- | --- | --- | --- | --- | --- |';
  const lines = rows.map(
    (r) =>
      `| ${r.measure} | ${r.value} | ${r.limit ?? ''} | ${r.ratio ?? ''} | ${r.bar ?? ''} | ${r.verdict ?? ''} |`,
  );
  const text = [
    `\n## ${title} — ${new Date().toISOString()}`,
    `Machine: ${machine()}`,
    '',
    header,
    ...lines,
    ...(notes.length ? ['', ...notes.map((n) => `- ${n}`)] : []),
    '',
  ].join('\n');
  console.log(text);
  const results = join(benchDir, 'RESULTS.md');
  const existing = await readFile(results, 'utf8').catch(() => '');
  if (!existing)
    await appendFile(
      results,
      '# Benchmark results\n\nEach run appends its table here (`npm run bench`). Ratios compare DeepLens against a limit measured in the same run on the same machine.\n',
    );
  await appendFile(results, text);
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** p50/p99/max of latencies in ms, formatted for a table. */
export function latencySummary(samples: number[]): { p50: number; p99: number; max: number; n: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
    n: sorted.length,
  };
}

export const ms = (value: number) => `${value.toFixed(value < 10 ? 2 : 1)} ms`;

/**
 * Runs `total` calls of `call` from `concurrency` closed-loop clients (each starts its next call
 * when the previous answered) and returns each call's latency in ms, in completion order.
 */
export async function closedLoop(
  concurrency: number,
  total: number,
  call: (i: number) => Promise<void>,
): Promise<number[]> {
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
export async function processesWithMarker(
  marker: string,
): Promise<{ pid: number; entry: string; cpuSeconds: number }[]> {
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
      out.push({
        pid: Number(pid),
        entry: cmdline.find((a) => a.endsWith('.ts')) ?? cmdline.join(' '),
        cpuSeconds,
      });
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

type CpuProfileNode = {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
};
type CpuProfile = { nodes: CpuProfileNode[]; samples: number[]; timeDeltas: number[] };

/**
 * Where a V8 `.cpuprofile` (from `node --cpu-prof` or `cpuProfiler.ts`) spent its busy time:
 * the functions with the most self time and the share per package/folder, idle excluded.
 */
export async function summarizeCpuProfile(
  path: string,
  top = 12,
): Promise<{ functions: string[]; groups: string[]; seconds: number; idle: string }> {
  const profile = JSON.parse(await readFile(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  // Samples under `cpuProfiler.ts` (starting and stopping the profiler) are not the process's work.
  const overhead = new Set<number>();
  const mark = (node: CpuProfileNode, inside: boolean): void => {
    const here = inside || node.callFrame.url.endsWith('bench/cpuProfiler.ts');
    if (here) overhead.add(node.id);
    for (const child of node.children ?? []) mark(byId.get(child)!, here);
  };
  if (profile.nodes[0]) mark(profile.nodes[0], false);
  const selfMs = new Map<number, number>();
  profile.samples.forEach((id, i) =>
    selfMs.set(id, (selfMs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000),
  );
  const byFunction = new Map<string, number>();
  const byGroup = new Map<string, number>();
  let idle = 0;
  let total = 0;
  for (const [id, time] of selfMs) {
    const frame = byId.get(id)?.callFrame;
    if (!frame || overhead.has(id)) continue;
    total += time;
    if (frame.functionName === '(idle)') {
      idle += time;
      continue;
    }
    const file = frame.url.replace(/^file:\/\//, '').replace(/^.*\/work\/main\//, '');
    const key = `${frame.functionName || '(anonymous)'}${file ? ` ${file}` : ''}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + time);
    const group = !file
      ? '(native, GC, program)'
      : file.includes('node_modules/')
        ? `npm:${/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file)?.[1] ?? '?'}`
        : file.startsWith('node:')
          ? 'node core'
          : file.split('/')[0]!;
    byGroup.set(group, (byGroup.get(group) ?? 0) + time);
  }
  const busy = total - idle;
  const share = ([name, time]: [string, number]) => `${((100 * time) / busy).toFixed(1)}% ${name}`;
  return {
    functions: [...byFunction]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(share),
    groups: [...byGroup]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(share),
    seconds: total / 1000,
    idle: `busy ${(busy / 1000).toFixed(1)} s (${((100 * busy) / total).toFixed(0)}%)`,
  };
}

/**
 * CPU profiles of the processes a benchmark starts, over its measured window only: `env` goes
 * into the processes' environment (it preloads `cpuProfiler.ts`), `start`/`stop` bracket the
 * window (SIGUSR2), `print` summarises each process's profile.
 */
export async function windowedCpuProfiles(enabled: boolean) {
  const dir = enabled ? await mkdtemp(join(tmpdir(), 'deeplens-bench-profile-')) : undefined;
  let pids = new Map<number, string>();
  const toggle = () => {
    for (const pid of pids.keys()) process.kill(pid, 'SIGUSR2');
  };
  return {
    env: dir
      ? {
          NODE_OPTIONS: `--import tsx --import ${join(benchDir, 'cpuProfiler.ts')}`,
          BENCH_CPU_PROFILE_DIR: dir,
        }
      : ({} as Record<string, string>),
    async start(marker: string): Promise<void> {
      if (!dir) return;
      const found = await processesWithMarker(marker);
      pids = new Map(found.filter((p) => p.entry.endsWith('.ts')).map((p) => [p.pid, p.entry]));
      toggle();
    },
    stop(): void {
      if (dir) toggle();
    },
    async print(nameOf: (entry: string) => string = (entry) => entry): Promise<void> {
      if (!dir) return;
      await new Promise((resolve) => setTimeout(resolve, 2000)); // the profiles are written on the signal
      console.log(`\nCPU profiles of the measured window in ${dir} (open in Chrome DevTools):`);
      for (const file of (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'))) {
        const summary = await summarizeCpuProfile(join(dir, file), 15);
        const pid = Number(file.split('.')[0]);
        console.log(
          `\n${nameOf(pids.get(pid) ?? '?')} (pid ${pid}): ${summary.seconds.toFixed(1)} s sampled, ${summary.idle}`,
        );
        console.log(`  busy time by package/folder: ${summary.groups.join(' · ')}`);
        for (const line of summary.functions) console.log(`  ${line}`);
      }
    },
  };
}

/**
 * Runs `work` and returns its result with the wall time and the CPU seconds each process
 * carrying `marker` used meanwhile (by entry point), plus this process's as `bench client`.
 */
export async function withCpuAccounting<T>(
  marker: string,
  work: () => Promise<T>,
): Promise<{ result: T; seconds: number; cpu: Map<string, number> }> {
  const before = await processCpuSeconds(marker);
  const ownBefore = ownCpuSeconds();
  const start = performance.now();
  const result = await work();
  const seconds = (performance.now() - start) / 1000;
  const own = ownCpuSeconds() - ownBefore;
  const after = await processCpuSeconds(marker);
  const cpu = new Map<string, number>();
  for (const [entry, seconds] of after)
    if (entry.endsWith('.ts')) cpu.set(entry, seconds - (before.get(entry) ?? 0));
  cpu.set('bench client', own);
  return { result, seconds, cpu };
}

/**
 * Samples what the PostgreSQL sessions of one database are doing while `work` runs (every
 * `intervalMs`, from `pg_stat_activity`): the share of active-session samples per wait event
 * (`CPU` when a session runs without waiting) — where the database time of a request goes.
 */
export async function sampleDatabaseWaits<T>(
  databaseUrl: string,
  work: () => Promise<T>,
  intervalMs = 20,
): Promise<{ result: T; waits: string }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const counts = new Map<string, number>();
  let samples = 0;
  let running = true;
  const sampler = (async () => {
    while (running) {
      const { rows } = await client.query<{ wait: string; n: number }>(
        // A lock wait names the statement that waits, so the contended row can be found.
        `select coalesce(wait_event_type || ':' || wait_event, 'CPU')
             || case when wait_event_type = 'Lock'
                  then ' (' || left(regexp_replace(query, '\\s+', ' ', 'g'), 48) || '…)' else '' end as wait,
                count(*)::int as n
         from pg_stat_activity
         where datname = current_database() and state = 'active' and pid <> pg_backend_pid()
         group by 1`,
      );
      samples++;
      for (const row of rows) counts.set(row.wait, (counts.get(row.wait) ?? 0) + row.n);
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();
  try {
    const result = await work();
    return {
      result,
      waits: `${samples} samples, mean active sessions ${([...counts.values()].reduce((a, b) => a + b, 0) / Math.max(1, samples)).toFixed(1)}: ${[
        ...counts,
      ]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 6)
        .map(
          ([wait, n]) =>
            `${wait} ${((100 * n) / [...counts.values()].reduce((a, b) => a + b, 0)).toFixed(0)}%`,
        )
        .join(', ')}`,
    };
  } finally {
    running = false;
    await sampler;
    await client.end();
  }
}
