import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../config.ts';
import { freePort } from './freePort.ts';
import { createTestDatabase } from './testDatabase.ts';

const repoRoot = join(import.meta.dirname, '..', '..', '..');

/**
 * How long a process may take to become ready: seven Node processes compiling TypeScript,
 * loading the model and catching every projection up take ~15 s on a quiet 2-core machine and
 * more than 90 s while two test files start stacks and JVMs beside them (measured at load 40).
 */
const startupBudgetMs = Number(process.env.DEEPLENS_TEST_STARTUP_MS ?? 240_000);

/** Every DeepLens process, by name, with its composition root. */
export const deeplensEntryPoints = {
  'write-api': 'write-api/src/main.ts',
  relay: 'commands/src/outbox/relayMain.ts',
  intake: 'write-api/src/intakeMain.ts',
  eraser: 'write-api/src/eraserMain.ts',
  embedder: 'embedder/src/main.ts',
  projectors: 'projections/src/main.ts',
  'read-api': 'read-api/src/main.ts',
} as const;
export type DeepLensProcessName = keyof typeof deeplensEntryPoints;

export type RunningDeepLens = {
  writeUrl: string;
  readUrl: string;
  env: Record<string, string>;
  admin: { email: string; password: string };
  /** SIGKILLs one process (a crash), or SIGTERMs it with `graceful`. */
  stop(name: DeepLensProcessName, options?: { graceful?: boolean }): Promise<void>;
  start(name: DeepLensProcessName): void;
  /** Output lines of every process, for log scans. */
  output: string[];
  /** Each process's `/metrics`, on its METRICS_PORT. */
  metricsUrls: Record<DeepLensProcessName, string>;
};

/**
 * Starts DeepLens as a user would — every process from its `main.ts`, as separate processes —
 * on a fresh database, its own topics (`KAFKA_TOPIC_PREFIX`), folders and ports, against the
 * running stack. Everything is stopped and removed when the test ends.
 */
export async function startDeepLens(
  t: Pick<TestContext, 'after'>,
  options: {
    processes?: DeepLensProcessName[];
    env?: Record<string, string>;
    /** Addresses of another stack (a private one for fault tests); the default stack otherwise. */
    stackEnv?: Record<string, string>;
    /** Restart a process that exits on its own, as an orchestrator would (after `stop`, too). */
    supervise?: boolean;
  } = {},
): Promise<RunningDeepLens> {
  const { url } = await createTestDatabase(t, loadConfig({ ...process.env, ...options.stackEnv }));
  const prefix = `t${randomBytes(4).toString('hex')}.`;
  const [writePort, readPort] = [await freePort(), await freePort()];
  const admin = { email: 'admin@deeplens.test', password: `admin-${randomBytes(8).toString('hex')}` };
  const env: Record<string, string> = {
    ...options.stackEnv,
    DATABASE_URL: url,
    KAFKA_TOPIC_PREFIX: prefix,
    KAFKA_TOPIC_PARTITIONS: '2',
    DEEPLENS_VECTOR_NAMESPACE: prefix.replace(/\W/g, ''),
    WRITE_API_PORT: String(writePort),
    READ_API_PORT: String(readPort),
    SECRETS_DIR: await mkdtemp(join(tmpdir(), 'deeplens-secrets-')),
    OBJECT_STORE_DIR: await mkdtemp(join(tmpdir(), 'deeplens-objects-')),
    VECTOR_INDEX_DIR: await mkdtemp(join(tmpdir(), 'deeplens-vectors-')),
    BOOTSTRAP_ADMIN_EMAIL: admin.email,
    BOOTSTRAP_ADMIN_PASSWORD: admin.password,
    LOG_LEVEL: 'info',
    // Tests play several client addresses through X-Forwarded-For.
    TRUST_PROXY: 'true',
    ...options.env,
  };
  const children = new Map<DeepLensProcessName, ChildProcess>();
  let stopping = false;
  const metricsPorts = new Map<DeepLensProcessName, number>();
  // The APIs too: their own port answers /metrics only to METRICS_TOKEN.
  for (const name of Object.keys(deeplensEntryPoints) as DeepLensProcessName[]) {
    metricsPorts.set(name, await freePort());
  }
  const output: string[] = [];

  function start(name: DeepLensProcessName): void {
    const child = spawn(process.execPath, ['--import', 'tsx', deeplensEntryPoints[name]], {
      cwd: repoRoot,
      env: {
        ...process.env,
        ...env,
        ...(metricsPorts.has(name) ? { METRICS_PORT: String(metricsPorts.get(name)) } : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const stream of [child.stdout, child.stderr]) {
      let partial = '';
      stream.on('data', (chunk: Buffer) => {
        const lines = (partial + chunk.toString()).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) output.push(`[${name}] ${line}`);
      });
    }
    children.set(name, child);
    child.once('exit', (code, signal) => {
      output.push(`[${name}] exited (${signal ?? code})`);
      if (options.supervise && !stopping && children.get(name) === child)
        setTimeout(() => !stopping && start(name), 500);
    });
  }

  async function stop(name: DeepLensProcessName, stopOptions: { graceful?: boolean } = {}): Promise<void> {
    const child = children.get(name);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(stopOptions.graceful ? 'SIGTERM' : 'SIGKILL');
    await Promise.race([exited, sleep(15_000)]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }

  const names = options.processes ?? (Object.keys(deeplensEntryPoints) as DeepLensProcessName[]);
  // The write API first: it applies the write model's migrations the others share.
  start('write-api');
  t.after(async () => {
    stopping = true;
    await Promise.all([...children.keys()].map((name) => stop(name, { graceful: true })));
  });
  const writeUrl = `http://127.0.0.1:${writePort}`;
  const readUrl = `http://127.0.0.1:${readPort}`;
  await waitForReady(`${writeUrl}/readyz`, startupBudgetMs, output);
  for (const name of names) if (name !== 'write-api') start(name);
  if (names.includes('read-api')) await waitForReady(`${readUrl}/readyz`, startupBudgetMs, output);
  const metricsUrls = Object.fromEntries(
    (Object.keys(deeplensEntryPoints) as DeepLensProcessName[]).map((name) => [
      name,
      `http://127.0.0.1:${metricsPorts.get(name)}/metrics`,
    ]),
  ) as Record<DeepLensProcessName, string>;
  return { writeUrl, readUrl, env, admin, stop, start, output, metricsUrls };
}

/**
 * Waits for `url` to answer 2xx. On a timeout the error carries the last answer (a readiness
 * endpoint says what it waits for) and the processes' last output lines.
 */
export async function waitForReady(url: string, timeoutMs: number, output: string[] = []): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    const answer = await fetch(url, { signal: AbortSignal.timeout(10_000) }).then(
      async (r) => ({ ok: r.ok, text: `${r.status} ${(await r.text()).slice(0, 600)}` }),
      (error: Error) => ({ ok: false, text: `no answer (${error.message})` }),
    );
    if (answer.ok) return;
    last = answer.text;
    await sleep(200);
  }
  throw new Error(
    `${url} did not become ready in ${timeoutMs} ms; its last answer: ${last}\n${output.slice(-30).join('\n')}`,
  );
}
