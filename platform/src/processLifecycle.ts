import { loadConfig, type Config } from './config.ts';
import { createLogger, type Logger } from './logger.ts';
import { startHealthServer } from './healthServer.ts';
import { startTelemetry } from './telemetry.ts';

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

/** A DeepLens process: started from the configuration, stopped on a signal. */
export type ProcessStarter = (config: Config, log: Logger) => Promise<{ stop: () => Promise<void> }>;

/** The whole `main.ts` of a process: configuration, a logger named after it, start, stop. */
export async function runProcess(name: string, start: ProcessStarter): Promise<void> {
  const config = loadConfig();
  const log = createLogger({ process: name }, config.LOG_LEVEL);
  await runUntilSignalled(log, async () => {
    const telemetry = await startTelemetry(name, config);
    const metrics = config.METRICS_PORT
      ? await startHealthServer(config.METRICS_HOST, config.METRICS_PORT)
      : undefined;
    if (metrics)
      log.info('metrics and readiness', {
        url: `http://${config.METRICS_HOST}:${config.METRICS_PORT}/metrics`,
        readyz: `http://${config.METRICS_HOST}:${config.METRICS_PORT}/readyz`,
      });
    const running = await start(config, log);
    return {
      stop: async () => {
        await running.stop();
        metrics?.close();
        await telemetry.shutdown();
      },
    };
  });
}
