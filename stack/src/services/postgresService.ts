import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { StackError, versions, type StackContext } from '../stackContext.ts';
import type { StackService } from '../stackService.ts';

/**
 * PostgreSQL from Debian's packages, in a cluster of our own under the stack folder, on
 * loopback and a non-default port. As root it runs as the `postgres` user (the server
 * refuses to run as root); otherwise as the current user.
 */
/** Whether the `postgres` user can traverse to `path` (every ancestor searchable). */
function postgresCanReach(path: string): boolean {
  return spawnSync('runuser', ['-u', 'postgres', '--', 'test', '-x', path]).status === 0;
}

/** Where the cluster's data, sockets and log live for a stack folder. */
export function postgresHome(context: Pick<StackContext, 'dir' | 'dataDir' | 'runDir' | 'logDir'>): {
  data: string;
  run: string;
  logs: string;
} {
  // The server runs as `postgres`, which must reach its files. A checkout under a private
  // folder (mode 0700, as CI's or mkdtemp's) cannot be reached: the cluster then lives in a
  // folder of its own under the system temp dir, named after the stack folder.
  if (process.getuid?.() !== 0 || postgresCanReach(context.dir))
    return { data: context.dataDir, run: context.runDir, logs: context.logDir };
  const base = join(
    tmpdir(),
    `deeplens-postgres-${createHash('sha256').update(context.dir).digest('hex').slice(0, 12)}`,
  );
  return { data: join(base, 'data'), run: join(base, 'run'), logs: join(base, 'logs') };
}

export function postgresService(context: StackContext): StackService {
  const bin = process.env.STACK_POSTGRES_BIN ?? `/usr/lib/postgresql/${versions.postgres}/bin`;
  const home = postgresHome(context);
  for (const dir of [home.data, home.run, home.logs]) mkdirSync(dir, { recursive: true, mode: 0o755 });
  const dataDir = join(home.data, 'postgres');
  const socketDir = join(home.run, 'postgres');
  const logFile = join(home.logs, 'postgres.log');
  const url = new URL(context.config.DATABASE_URL);
  const user = decodeURIComponent(url.username || 'deeplens');
  const password = decodeURIComponent(url.password || 'deeplens');
  const database = url.pathname.replace(/^\//, '') || 'deeplens';
  const port = context.ports.postgres;
  const asRoot = process.getuid?.() === 0;

  function run(tool: string, args: string[], options: { quiet?: boolean } = {}): void {
    const [command, fullArgs] = asRoot
      ? ['runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]]
      : [join(bin, tool), args];
    execFileSync(command, fullArgs, { stdio: ['ignore', options.quiet ? 'ignore' : 'inherit', 'inherit'] });
  }

  function ownForServer(path: string): void {
    mkdirSync(path, { recursive: true, mode: 0o700 });
    if (asRoot) {
      const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
      chownSync(path, uid, gid);
    }
  }

  function serverPid(): number | undefined {
    const pidFile = join(dataDir, 'postmaster.pid');
    if (!existsSync(pidFile)) return undefined;
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('postgres') ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  const service: StackService = {
    name: 'postgres',
    version: `PostgreSQL ${versions.postgres}`,
    address: `${context.host}:${port}`,
    logFile,
    startTimeoutSeconds: 60,
    async install() {
      if (!existsSync(join(bin, 'initdb'))) {
        throw new StackError(
          `PostgreSQL ${versions.postgres} server binaries not found in ${bin}: install them (Debian: \`apt-get install -y postgresql-${versions.postgres}\`) or set STACK_POSTGRES_BIN`,
        );
      }
      if (asRoot && spawnSync('id', ['-u', 'postgres']).status !== 0) {
        throw new StackError(
          'running as root needs the `postgres` system user (Debian package postgresql-common creates it)',
        );
      }
      if (existsSync(join(dataDir, 'PG_VERSION'))) return;
      ownForServer(dataDir);
      const pwFile = join(home.run, 'postgres-initdb.pw');
      writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
      if (asRoot) execFileSync('chown', ['postgres', pwFile]);
      try {
        run(
          'initdb',
          [
            '-D',
            dataDir,
            '-U',
            user,
            `--pwfile=${pwFile}`,
            '--auth-host=scram-sha-256',
            '--auth-local=peer',
            '--encoding=UTF8',
            '--locale=C',
          ],
          { quiet: true },
        );
      } finally {
        execFileSync('rm', ['-f', pwFile]);
      }
    },
    async start() {
      ownForServer(socketDir);
      const options = [
        `-c listen_addresses=${context.host}`,
        `-c port=${port}`,
        `-c unix_socket_directories=${socketDir}`,
        '-c max_connections=200',
        '-c shared_buffers=256MB',
        '-c fsync=on',
        '-c synchronous_commit=on',
      ].join(' ');
      // The log file must be writable by the server's user.
      if (!existsSync(logFile)) writeFileSync(logFile, '');
      if (asRoot) execFileSync('chown', ['postgres', logFile]);
      run('pg_ctl', ['-D', dataDir, '-l', logFile, '-o', options, '-w', '-t', '60', 'start'], {
        quiet: true,
      });
    },
    pid: serverPid,
    async isHealthy() {
      const client = new pg.Client({ host: context.host, port, user, password, database: 'postgres' });
      try {
        await client.connect();
        await client.query('select 1');
        return true;
      } finally {
        await client.end().catch(() => undefined);
      }
    },
    async afterHealthy() {
      const client = new pg.Client({ host: context.host, port, user, password, database: 'postgres' });
      await client.connect();
      try {
        for (const db of [database, 'apicurio']) {
          const exists = await client.query('select 1 from pg_database where datname = $1', [db]);
          if (exists.rowCount === 0) await client.query(`create database "${db.replaceAll('"', '""')}"`);
        }
      } finally {
        await client.end();
      }
    },
    async stop() {
      if (serverPid() === undefined) return false;
      run('pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', 'stop'], { quiet: true });
      return true;
    },
  };
  return service;
}
