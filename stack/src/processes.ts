import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface StartOptions {
  command: string;
  args: string[];
  cwd?: string;
  env?: Record<string, string>;
  logFile: string;
  pidFile: string;
}

/** Starts a long-running service detached from this process; its output goes to `logFile`. */
export function startDetached(options: StartOptions): number {
  mkdirSync(dirname(options.logFile), { recursive: true });
  mkdirSync(dirname(options.pidFile), { recursive: true });
  const log = openSync(options.logFile, 'a');
  const child = spawn(options.command, options.args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    detached: true,
    stdio: ['ignore', log, log],
  });
  if (child.pid === undefined) throw new Error(`could not start ${options.command}`);
  child.unref();
  writeFileSync(options.pidFile, `${child.pid}\n`);
  return child.pid;
}

/** The pid recorded in `pidFile` if that process is still alive and is ours (its command line names `marker`). */
export function runningPid(pidFile: string, marker: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number.parseInt(readFileSync(pidFile, 'utf8').trim().split('\n')[0] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
    // A pid reused by an unrelated process, or a zombie, is not ours to report or stop.
    return cmdline.includes(marker) && state !== 'Z' ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Stops the process recorded in `pidFile` (TERM, then KILL after `graceMs`) and removes the pid file. */
export async function stopByPidFile(pidFile: string, marker: string, graceMs = 20_000): Promise<boolean> {
  const pid = runningPid(pidFile, marker);
  if (pid === undefined) {
    rmSync(pidFile, { force: true });
    return false;
  }
  signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && runningPid(pidFile, marker) !== undefined) await sleep(200);
  if (runningPid(pidFile, marker) !== undefined) signal(pid, 'SIGKILL');
  rmSync(pidFile, { force: true });
  return true;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    // The service was started detached, so it leads its own process group: signal the group.
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      /* already gone */
    }
  }
}

/** Polls `check` until it resolves true or `timeoutMs` passes; returns whether it became true. */
export async function waitUntil(
  check: () => Promise<boolean>,
  timeoutMs: number,
  intervalMs = 250,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return true;
    await sleep(intervalMs);
  }
  return false;
}
