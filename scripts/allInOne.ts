/**
 * Every DeepLens process in one Node.js process — the write API, outbox relay, intake,
 * tenant eraser, embedder, projectors and read API — each started from its own starter with
 * the one configuration, and stopped in reverse order on SIGTERM/SIGINT. For a laptop or a
 * small box; production runs them as separate processes (the default of `npm run up`).
 *
 *   node --import tsx scripts/allInOne.ts        (what `npm run up -- --all-in-one` runs)
 *
 * If any part fails to start, the parts already started are stopped and the process exits 1.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startEmbedder } from '@deeplens/embedder/embedderProcess';
import type { Logger } from '@deeplens/platform/logger';
import { runProcess, type ProcessStarter } from '@deeplens/platform/processLifecycle';
import { startReadApi } from '@deeplens/read-api/readApiProcess';
import { startTenantEraser } from '@deeplens/write-api/eraserProcess';
import { startIntake } from '@deeplens/write-api/intakeProcess';
import { startOutboxRelay } from '@deeplens/commands/outbox/relayProcess';
import { startWriteApi } from '@deeplens/write-api/writeApiProcess';

const repoRoot = join(import.meta.dirname, '..');

type Component = { name: string; load: () => Promise<ProcessStarter> };

/**
 * In start order: the write API first (it migrates the write model), the read API last (it
 * reads what the projectors build).
 */
const allInOneComponents: Component[] = [
  { name: 'write-api', load: async () => startWriteApi },
  { name: 'outbox-relay', load: async () => startOutboxRelay },
  { name: 'intake', load: async () => startIntake },
  { name: 'tenant-eraser', load: async () => startTenantEraser },
  { name: 'embedder', load: async () => startEmbedder },
  { name: 'projectors', load: loadProjectorStarter },
  { name: 'read-api', load: async () => startReadApi },
];

/** Starts every component in order; a failure stops those already running and is rethrown. */
const startAllInOne: ProcessStarter = async (config, log) => {
  const running: { name: string; stop: () => Promise<void> }[] = [];
  try {
    for (const component of allInOneComponents) {
      const started = performance.now();
      const start = await component.load();
      const { stop } = await start(config, log.child({ component: component.name }));
      running.push({ name: component.name, stop });
      log.info('component started', {
        component: component.name,
        ms: Math.round(performance.now() - started),
      });
    }
  } catch (error) {
    await stopAll(running, log);
    throw error;
  }
  return { stop: () => stopAll(running, log) };
};

async function stopAll(running: { name: string; stop: () => Promise<void> }[], log: Logger): Promise<void> {
  for (const { name, stop } of [...running].reverse()) {
    try {
      await stop();
      log.info('component stopped', { component: name });
    } catch (error) {
      log.error('component failed to stop', { component: name, error });
    }
  }
}

/**
 * The projectors' starter, `startProjectors` from `projections/src/projectorProcess.ts`, once
 * that module exists; until then `projections/src/main.ts` runs as a child process of this one
 * (its output passes through; if it dies, so does this process, so `npm run up` restarts both).
 */
async function loadProjectorStarter(): Promise<ProcessStarter> {
  // A specifier in a variable: the type checker must not require a module that may not exist yet.
  const specifier = '@deeplens/projections/projectorProcess';
  const module: unknown = await import(specifier).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') return undefined;
    throw error;
  });
  const starter = (module as { startProjectors?: unknown } | undefined)?.startProjectors;
  return typeof starter === 'function' ? (starter as ProcessStarter) : startProjectorsAsChild;
}

const startProjectorsAsChild: ProcessStarter = async (_config, log) => {
  log.info(
    'projections/src/projectorProcess.ts has no startProjectors yet: running projections/src/main.ts as a child',
  );
  const child = spawn(process.execPath, ['--import', 'tsx', 'projections/src/main.ts'], {
    cwd: repoRoot,
    env: process.env,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  let stopping = false;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', (code, signal) => {
    if (stopping) return;
    log.error('the projector child process died; stopping so the supervisor restarts everything', {
      code,
      signal,
    });
    process.kill(process.pid, 'SIGTERM');
  });
  return {
    stop: async () => {
      stopping = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(20_000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
};

await runProcess('deeplens', startAllInOne);
