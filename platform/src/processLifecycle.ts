import type { Logger } from './logger.ts';

/**
 * Runs a process's `start` and, on SIGTERM/SIGINT, its `stop` once, then exits. An error at
 * start-up (bad configuration, a dependency that never came up) exits non-zero with the reason.
 */
export async function runUntilSignalled(
  log: Logger,
  start: () => Promise<{ stop: () => Promise<void> }>,
): Promise<void> {
  let stopper: { stop: () => Promise<void> } | undefined;
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('stopping', { signal });
    void (stopper?.stop() ?? Promise.resolve())
      .catch((error: unknown) => log.error('stop failed', { error }))
      .finally(() => process.exit(0));
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  try {
    stopper = await start();
    log.info('started');
  } catch (error) {
    log.error('start failed', { error });
    process.exit(1);
  }
}
