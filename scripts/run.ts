/**
 * DeepLens with one command:
 *
 *   npm run up [-- --all-in-one] [--replicas N] [--no-stack] [--raw-logs]
 *
 * 1. brings the local stack up (`npm run stack -- up`; skipped with --no-stack, e.g. when the
 *    configuration points at external services),
 * 2. builds the default embedding model if it is not built yet (idempotent),
 * 3. settles the first platform admin: BOOTSTRAP_ADMIN_EMAIL/BOOTSTRAP_ADMIN_PASSWORD when set,
 *    else `admin@deeplens.local` with a random password kept in `<SECRETS_DIR>/admin.json` (0600),
 * 4. starts every DeepLens process, each as a child process (`node --import tsx <x>/src/main.ts`)
 *    whose output is prefixed with its name and which is restarted with backoff if it dies — or,
 *    with --all-in-one, all of them in one process (`scripts/allInOne.ts`); with --replicas N,
 *    N instances each of the embedder, the projectors and the read API (read APIs on
 *    consecutive ports from READ_API_PORT), side by side,
 * 5. waits until both APIs answer `/readyz`, then prints where they listen and what to do next.
 *
 * Ctrl-C (or SIGTERM) stops everything: SIGTERM to each process, a wait, then exit. So does a
 * plain `kill -INT <pid>` (or `-TERM`) of the `npm run up` process: npm passes the signal on to
 * its script, which `exec`s tsx (package.json) so that no shell sits in between and swallows it,
 * and tsx passes it on to this script.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, relative, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { DeepLensApiError } from '@deeplens/client/clientErrors';
import { createDeepLensClient } from '@deeplens/client/deepLensClient';
import { loadConfig, type Config } from '@deeplens/platform/config';
import { loadWebConfig, webUrl as webAddress } from '@deeplens/web/webConfig';

const repoRoot = resolve(import.meta.dirname, '..');
const usage = `usage: npm run up [-- --all-in-one] [--replicas N] [--no-stack] [--raw-logs]

  --all-in-one   run every DeepLens process inside one Node.js process
  --replicas N   N instances each of the embedder, projectors and read API (1-8; read APIs on
                 READ_API_PORT, READ_API_PORT + 1, …)
  --no-stack     do not start the local stack (the configuration points at running services)
  --raw-logs     print the processes' JSON log lines as they are`;

/** Every DeepLens process and its composition root, in start order (`scaled`: runs `--replicas` times). */
const processes: readonly { name: string; main: string; scaled?: boolean }[] = [
  { name: 'write-api', main: 'write-api/src/main.ts' },
  { name: 'relay', main: 'commands/src/outbox/relayMain.ts' },
  { name: 'intake', main: 'write-api/src/intakeMain.ts' },
  { name: 'eraser', main: 'write-api/src/eraserMain.ts' },
  // Instances share the work through their Kafka consumer group.
  { name: 'embedder', main: 'embedder/src/main.ts', scaled: true },
  // One writer per projection generation (an advisory lock): the others stand by and take over.
  { name: 'projectors', main: 'projections/src/main.ts', scaled: true },
  // Stateless over the read models: each on its own port.
  { name: 'read-api', main: 'read-api/src/main.ts', scaled: true },
];

const optionSpec = {
  'all-in-one': { type: 'boolean', default: false },
  replicas: { type: 'string', default: '1' },
  'no-stack': { type: 'boolean', default: false },
  'raw-logs': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;
let options: ReturnType<typeof parseArgs<{ options: typeof optionSpec; strict: true }>>['values'];
try {
  options = parseArgs({
    options: optionSpec,
    strict: true,
  }).values;
} catch (error) {
  console.error(`up: ${error instanceof Error ? error.message : String(error)}\n\n${usage}`);
  process.exit(2);
}
if (options.help) {
  console.log(usage);
  process.exit(0);
}
const replicas = Number(options.replicas);
if (!Number.isInteger(replicas) || replicas < 1 || replicas > 8 || (replicas > 1 && options['all-in-one'])) {
  console.error(`up: --replicas takes a whole number from 1 to 8, and not with --all-in-one\n\n${usage}`);
  process.exit(2);
}

const color = process.stdout.isTTY && !process.env['NO_COLOR'];
const paint = (code: number, text: string) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
const say = (text: string) => console.log(`${paint(1, 'up')}: ${text}`);

type Supervised = {
  name: string;
  main: string;
  env: Record<string, string>;
  child?: ChildProcess;
  startedAt: number;
  backoffMs: number;
  restartTimer?: NodeJS.Timeout;
  /** The last lines it printed, shown if it will not stay up. */
  recent: string[];
};
const supervised: Supervised[] = [];
let shuttingDown = false;

process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
// The terminal went away: nobody is left to press Ctrl-C.
process.on('SIGHUP', () => void shutdown('SIGHUP'));
// Whatever happens to this script, it leaves no DeepLens process behind.
process.on('exit', () => {
  for (const s of supervised) if (isAlive(s.child)) s.child.kill('SIGKILL');
});

try {
  await main();
} catch (error) {
  console.error(`up: ${error instanceof Error ? error.message : String(error)}`);
  await shutdown('error', 1);
}

async function main(): Promise<void> {
  const config = loadConfig();
  if (!options['no-stack']) await runStep('stack', ['stack/src/main.ts', 'up']);
  await runStep('model', ['embedder/src/buildDefaultModel.ts']);
  // The web interface's app, built when missing or older than its sources.
  await runStep('web', ['web/src/buildWeb.ts']);
  const admin = await settleAdmin(config);

  const writeUrl = `http://${reachable(config.WRITE_API_HOST)}:${config.WRITE_API_PORT}`;
  const readUrl = `http://${reachable(config.READ_API_HOST)}:${config.READ_API_PORT}`;
  const readUrls = Array.from(
    { length: replicas },
    (_, i) => `http://${reachable(config.READ_API_HOST)}:${config.READ_API_PORT + i}`,
  );
  await assertPortFree('WRITE_API_PORT', config.WRITE_API_HOST, config.WRITE_API_PORT, writeUrl);
  for (const [i, url] of readUrls.entries())
    await assertPortFree('READ_API_PORT', config.READ_API_HOST, config.READ_API_PORT + i, url);
  const web = loadWebConfig();
  const webUrl = webAddress(web);
  await assertPortFree('WEB_PORT', web.host, web.port, webUrl);

  const env = {
    BOOTSTRAP_ADMIN_EMAIL: admin.email,
    BOOTSTRAP_ADMIN_PASSWORD: admin.password,
  };
  if (options['all-in-one']) {
    supervise({ name: 'deeplens', main: 'scripts/allInOne.ts', env });
  } else {
    // One metrics port each, if metrics are asked for (an API's own port answers only METRICS_TOKEN).
    const metricsBase = process.env['METRICS_PORT'] ? Number(process.env['METRICS_PORT']) : undefined;
    let nextMetricsPort = metricsBase;
    // The write API first: it migrates the write model the others share.
    const instances = processes.flatMap((p) =>
      Array.from({ length: p.scaled ? replicas : 1 }, (_, i) => ({
        name: i === 0 ? p.name : `${p.name}#${i + 1}`,
        main: p.main,
        env: {
          ...env,
          ...(metricsBase !== undefined ? { METRICS_PORT: String(nextMetricsPort!++) } : {}),
          ...(p.name === 'read-api' ? { READ_API_PORT: String(config.READ_API_PORT + i) } : {}),
        },
      })),
    );
    const [first, ...rest] = instances;
    supervise(first!);
    await waitUntilReady('write API', writeUrl, 180_000);
    for (const p of rest) supervise(p);
  }
  supervise({ name: 'web', main: 'web/src/main.ts', env: {} });
  await waitUntilReady('write API', writeUrl, 180_000);
  for (const [i, url] of readUrls.entries())
    await waitUntilReady(i === 0 ? 'read API' : `read API #${i + 1}`, url, 180_000);
  if (shuttingDown) return;
  const adminWorks = await checkAdminSignIn(writeUrl, readUrl, admin);
  printBanner({ writeUrl, readUrl, readUrls, webUrl, admin, adminWorks, config });
}

/** A set-up step run to completion with its output shown; a failure stops `up`. */
async function runStep(label: string, args: string[]): Promise<void> {
  say(`${label}: node --import tsx ${args.join(' ')}`);
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: repoRoot, stdio: 'inherit' });
  const code = await new Promise<number | null>((done) => child.once('exit', (c) => done(c)));
  if (shuttingDown) return;
  if (code !== 0) throw new Error(`${label} failed (exit ${code}); see its output above`);
}

type Admin = { email: string; password: string; source: 'environment' | 'file' | 'generated'; file?: string };

/** The first platform admin: from the environment, else from (or newly into) `admin.json`. */
async function settleAdmin(config: Config): Promise<Admin> {
  if (config.BOOTSTRAP_ADMIN_EMAIL && config.BOOTSTRAP_ADMIN_PASSWORD) {
    return {
      email: config.BOOTSTRAP_ADMIN_EMAIL,
      password: config.BOOTSTRAP_ADMIN_PASSWORD,
      source: 'environment',
    };
  }
  if (config.BOOTSTRAP_ADMIN_EMAIL || config.BOOTSTRAP_ADMIN_PASSWORD)
    throw new Error('set both BOOTSTRAP_ADMIN_EMAIL and BOOTSTRAP_ADMIN_PASSWORD, or neither');
  const secretsDir = resolve(repoRoot, config.SECRETS_DIR);
  const file = join(secretsDir, 'admin.json');
  try {
    const stored = JSON.parse(await readFile(file, 'utf8')) as { email?: unknown; password?: unknown };
    if (typeof stored.email === 'string' && typeof stored.password === 'string')
      return { email: stored.email, password: stored.password, source: 'file', file };
    throw new Error(`${file} is not {"email": …, "password": …}; fix or delete it`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const admin = { email: 'admin@deeplens.local', password: randomBytes(18).toString('base64url') };
  await mkdir(secretsDir, { recursive: true, mode: 0o700 });
  await writeFile(file, `${JSON.stringify(admin, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  await chmod(file, 0o600);
  say(`generated the first platform admin's password into ${relative(repoRoot, file)} (0600)`);
  return { ...admin, source: 'generated', file };
}

async function assertPortFree(variable: string, host: string, port: number, url: string): Promise<void> {
  const free = await new Promise<boolean>((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen(port, host, () => server.close(() => done(true)));
  });
  if (free) return;
  const answering = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) })
    .then((r) => r.ok)
    .catch(() => false);
  throw new Error(
    `${host}:${port} is taken${answering ? ' by something answering /readyz (DeepLens already running?)' : ''}; ` +
      `choose another port with ${variable}=<port> npm run up`,
  );
}

function supervise(spec: { name: string; main: string; env: Record<string, string> }): void {
  const entry: Supervised = { ...spec, startedAt: 0, backoffMs: 1_000, recent: [] };
  supervised.push(entry);
  start(entry);
}

function start(entry: Supervised): void {
  entry.startedAt = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', entry.main], {
    cwd: repoRoot,
    env: { ...process.env, ...entry.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: a Ctrl-C reaches this script only, which stops the children in order.
    detached: true,
  });
  entry.child = child;
  const width = Math.max(...supervised.map((s) => s.name.length), ...processes.map((p) => p.name.length));
  const prefix = paint(36, `${entry.name.padEnd(width)} |`);
  for (const stream of [child.stdout, child.stderr]) {
    let partial = '';
    stream.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line.trim() === '') continue;
        entry.recent = [...entry.recent.slice(-19), line];
        console.log(`${prefix} ${options['raw-logs'] ? line : prettyLogLine(line)}`);
      }
    });
  }
  child.once('exit', (code, signal) => {
    if (shuttingDown) return;
    // A process that stayed up a while starts again at once; one that keeps dying waits longer each time.
    if (Date.now() - entry.startedAt > 60_000) entry.backoffMs = 1_000;
    say(
      paint(
        33,
        `${entry.name} exited (${signal ?? `code ${code}`}); restarting in ${entry.backoffMs / 1000}s`,
      ),
    );
    entry.restartTimer = setTimeout(() => start(entry), entry.backoffMs);
    entry.backoffMs = Math.min(30_000, entry.backoffMs * 2);
  });
}

/** `12:00:01.123 info  listening url=http://…` from a JSON log line; anything else as it is. */
function prettyLogLine(line: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (typeof record !== 'object' || record === null || typeof record['msg'] !== 'string') return line;
  const { time, level, msg, process: processName, ...fields } = record;
  // All in one, the projectors may run as a child of the one process: say so.
  if (options['all-in-one'] && processName !== 'deeplens') fields['process'] = processName;
  const clock = typeof time === 'string' ? time.slice(11, 23) : '';
  const levelText = (typeof level === 'string' ? level : '').padEnd(5);
  const coloured =
    level === 'error' ? paint(31, levelText) : level === 'warn' ? paint(33, levelText) : paint(2, levelText);
  const rest = Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${paint(2, clock)} ${coloured} ${msg}${rest ? ` ${paint(2, rest)}` : ''}`;
}

type ReadyzBody = { reasons?: { reason: string; state?: string }[] };

async function waitUntilReady(label: string, url: string, timeoutMs: number): Promise<void> {
  let deadline = Date.now() + timeoutMs;
  let said = '';
  while (Date.now() < deadline) {
    if (shuttingDown) return;
    // 503 with reasons: a projection replaying the log (waited for, however long) or halted.
    const answer: { ok: boolean; body: ReadyzBody } = await fetch(`${url}/readyz`, {
      signal: AbortSignal.timeout(2_000),
    })
      .then(async (r) => ({ ok: r.ok, body: (await r.json().catch(() => ({}))) as ReadyzBody }))
      .catch(() => ({ ok: false, body: {} }));
    if (answer.ok) return;
    const reasons = answer.body.reasons ?? [];
    const text = reasons.map((r) => r.reason).join('; ');
    if (text && text !== said) say(`${label} not ready yet: ${(said = text)}`);
    if (reasons.some((r) => r.state === 'replaying')) deadline = Math.max(deadline, Date.now() + 30_000);
    await sleep(500);
  }
  const owner =
    supervised.find((s) => s.name === (label === 'write API' ? 'write-api' : 'read-api')) ??
    supervised.find((s) => s.name === 'deeplens');
  const recent = owner?.recent.slice(-10).join('\n') ?? '';
  throw new Error(
    `the ${label} did not answer ${url}/readyz within ${timeoutMs / 1000}s${recent ? `; its last lines:\n${recent}` : ''}`,
  );
}

/** Signs in as the admin once, so a stale `admin.json` is pointed out now, not at first use. */
async function checkAdminSignIn(writeUrl: string, readUrl: string, admin: Admin): Promise<boolean> {
  try {
    await createDeepLensClient({ writeUrl, readUrl }).signIn({
      email: admin.email,
      password: admin.password,
    });
    return true;
  } catch (error) {
    if (error instanceof DeepLensApiError && error.status === 401) return false;
    throw error;
  }
}

function printBanner(info: {
  writeUrl: string;
  readUrl: string;
  readUrls: string[];
  webUrl: string;
  admin: Admin;
  adminWorks: boolean;
  config: Config;
}): void {
  const { writeUrl, readUrl, admin } = info;
  const cli = 'npm run deeplens --';
  const defaults = writeUrl === 'http://127.0.0.1:8080' && readUrl === 'http://127.0.0.1:8090';
  const urls = defaults ? '' : ` --write-url ${writeUrl} --read-url ${readUrl}`;
  const where =
    admin.source === 'environment'
      ? 'password: BOOTSTRAP_ADMIN_PASSWORD'
      : `password in ${relative(repoRoot, admin.file!)}`;
  const passwordPipe =
    admin.source === 'environment'
      ? 'printenv BOOTSTRAP_ADMIN_PASSWORD'
      : `node -p "require('./${relative(repoRoot, admin.file!)}').password"`;
  const count = processes.reduce((n, p) => n + (p.scaled ? replicas : 1), 0);
  const mode = options['all-in-one']
    ? 'all in one process'
    : `${count} processes${replicas > 1 ? `, ${replicas} of each worker` : ''}`;
  const lines = [
    '',
    paint(1, `DeepLens is up (${mode}); Ctrl-C stops everything.`),
    `  write API   ${writeUrl}   (OpenAPI: ${writeUrl}/openapi.json)`,
    `  read API    ${readUrl}   (OpenAPI: ${readUrl}/openapi.json)`,
    ...info.readUrls.slice(1).map((url, i) => `  read API #${i + 2} ${url}`),
    `  web UI      ${info.webUrl}   (sign in as below, or as any user; docs/web.md)`,
    `  admin       ${admin.email}   (${where})`,
    ...(info.adminWorks
      ? []
      : [
          paint(
            33,
            `  warning: that password does not sign ${admin.email} in: the account was created earlier with another one.`,
          ),
        ]),
    '',
    'Next, in another terminal:',
    `  ${passwordPipe} | ${cli} login --email ${admin.email}${urls}`,
    `  ${cli} tenant create acme --name "Acme"               # prints the tenant id`,
    `  ${cli} key create --tenant <tenant id>                # prints an API key once`,
    `  export DEEPLENS_API_KEY=<that key>`,
    `  ${cli} import ./photos --tags holiday --wait`,
    `  ${cli} search ./photo.jpg`,
    '',
    'More: docs/getting-started.md',
    '',
  ];
  console.log(lines.join('\n'));
}

let shutdownStartedAt = 0;

async function shutdown(reason: string, exitCode = 0): Promise<void> {
  if (shuttingDown) {
    // One Ctrl-C arrives more than once (npm and tsx pass it on too): only a later one means "now".
    if ((reason === 'SIGINT' || reason === 'SIGTERM') && Date.now() - shutdownStartedAt > 2_000) {
      say('stopping now (SIGKILL)');
      process.exit(130);
    }
    return;
  }
  shuttingDown = true;
  shutdownStartedAt = Date.now();
  const alive = supervised.filter((s) => isAlive(s.child));
  for (const s of supervised) clearTimeout(s.restartTimer);
  if (alive.length > 0) say(`stopping ${alive.map((s) => s.name).join(', ')} (Ctrl-C again to kill)`);
  const exits = alive.map((s) => new Promise<void>((done) => s.child!.once('exit', () => done())));
  for (const s of alive) s.child!.kill('SIGTERM');
  const allExited = await Promise.race([
    Promise.all(exits).then(() => true),
    sleep(25_000).then(() => false),
  ]);
  if (!allExited) {
    const stuck = supervised.filter((s) => isAlive(s.child));
    say(`${stuck.map((s) => s.name).join(', ')} did not stop within 25s: killed`);
    for (const s of stuck) s.child!.kill('SIGKILL');
  }
  if (alive.length > 0) say('stopped');
  process.exit(exitCode);
}

function isAlive(child: ChildProcess | undefined): child is ChildProcess {
  return child !== undefined && child.exitCode === null && child.signalCode === null;
}

/** A server listening on every interface is reached on loopback. */
function reachable(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
