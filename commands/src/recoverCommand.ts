/** `recover`'s command line, run and report, shared by `recoverMain.ts` and the CLI. */
import { parseArgs } from 'node:util';
import { createProgressBar } from '@deeplens/platform/progressBar';
import { createEventSerde, registrySchemaStore } from '@deeplens/events/eventSerde';
import { loadConfig } from '@deeplens/platform/config';
import { DeepLensError } from '@deeplens/platform/errors';
import { createKafka } from '@deeplens/platform/kafka';
import { startMetricsServer } from '@deeplens/platform/metrics';
import { createSchemaRegistry } from '@deeplens/platform/schemaRegistry';
import { recoverWriteModel, type RecoverMode, type RecoveryResult } from './recoverWriteModel.ts';

export const recoverUsage = `usage: npm run deeplens -- recover [--force | --verify] [--json]
   or: npx tsx commands/src/recoverMain.ts [--force | --verify] [--json]

  (no option)  rebuild an EMPTY write model (or a dropped database) from the Kafka log
  --force      replace a write model that is not empty with what the log says
  --verify     rebuild into scratch tables and compare with the live write model;
               exits 1 if they differ (a health check; changes nothing)
  --json       print the result as JSON

Stop the write side (write API, relay, intake, eraser) first; start DeepLens after it.
Reads KAFKA_BROKERS, KAFKA_TOPIC_PREFIX, SCHEMA_REGISTRY_URL and DATABASE_URL; serves its
progress at /metrics when METRICS_PORT is set.`;

export type RecoverIo = {
  out: (line: string) => void;
  stderr: NodeJS.WriteStream;
  env: Record<string, string | undefined>;
};

/** Parses `recover`'s options; throws a message for a bad command line. */
export function parseRecoverArguments(argv: string[]): { mode: RecoverMode; json: boolean; help: boolean } {
  const { values } = parseArgs({
    args: argv,
    options: {
      force: { type: 'boolean', default: false },
      verify: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.force && values.verify) throw new Error('recover takes --force or --verify, not both');
  return {
    mode: values.force ? 'force' : values.verify ? 'verify' : 'recover',
    json: values.json,
    help: values.help,
  };
}

/** Runs a recovery with a progress bar on stderr and the outcome on `out`; returns the exit code. */
export async function runRecover(
  options: { mode: RecoverMode; json: boolean },
  io: RecoverIo,
): Promise<number> {
  const config = loadConfig(io.env);
  const metrics = config.METRICS_PORT
    ? await startMetricsServer(config.METRICS_HOST, config.METRICS_PORT)
    : undefined;
  const kafka = createKafka(config, 'deeplens-recover');
  const serde = createEventSerde(
    registrySchemaStore(createSchemaRegistry(config), config.SCHEMA_REGISTRY_URL),
  );
  const bar = createProgressBar(io.stderr, options.mode === 'verify' ? 'verifying' : 'recovering', {
    plainEveryMs: 5_000,
  });
  const started = performance.now();
  try {
    const result = await recoverWriteModel({
      kafka,
      serde,
      databaseUrl: config.DATABASE_URL,
      topicPrefix: config.KAFKA_TOPIC_PREFIX,
      mode: options.mode,
      onProgress: ({ done, total, elapsedMs }) => bar.update({ done, total, failed: 0, elapsedMs }),
    }).finally(() => bar.finish());
    const seconds = (performance.now() - started) / 1000;
    if (options.json) io.out(JSON.stringify({ ...result, seconds }, null, 2));
    else for (const line of describeRecovery(result, seconds)) io.out(line);
    return result.differences && result.differences.length > 0 ? 1 : 0;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (options.json) {
      io.out(
        JSON.stringify({
          error: message,
          ...(error instanceof DeepLensError ? { code: error.code, detail: error.detail } : {}),
        }),
      );
    }
    io.stderr.write(`recover: ${message}\n`);
    return 1;
  } finally {
    metrics?.close();
  }
}

/** The outcome in a few lines. */
export function describeRecovery(result: RecoveryResult, seconds: number): string[] {
  const counts = `${result.aggregates} aggregates, ${result.reservations} unique reservations, usage of ${result.tenantsWithUsage} tenants`;
  const read = `${result.records} records (${result.duplicates} republished duplicates skipped) in ${seconds.toFixed(1)} s`;
  const lines: string[] = [];
  for (const clash of result.clashes) {
    lines.push(
      `warning: ${clash.kind} '${clash.value}' is claimed by ${[clash.keptBy, ...clash.alsoClaimedBy].join(', ')} (the log was written to while the write model was lost); it stays with the first, ${clash.keptBy}`,
    );
  }
  if (result.mode !== 'verify') {
    lines.push(`Recovered the write model from ${read}: ${counts}.`);
    lines.push(
      'Sessions, idempotency keys and throttles are not in the log: users sign in again (docs/recovery.md).',
    );
    lines.push('Next: start DeepLens (npm run up).');
    return lines;
  }
  const differences = result.differences ?? [];
  const moving =
    result.changedDuringCheck && result.changedDuringCheck > 0
      ? ` (${result.changedDuringCheck} aggregates written during the check were not compared)`
      : '';
  if (differences.length === 0) {
    lines.push(`The write model matches the log: ${counts}; ${read}${moving}.`);
    return lines;
  }
  lines.push(
    `The write model differs from the log in ${differences.length}${differences.length >= 1000 ? '+' : ''} rows${moving}:`,
  );
  for (const difference of differences.slice(0, 50)) {
    const what = difference.fields ? ` fields ${difference.fields.join(', ')}` : '';
    lines.push(
      `  ${difference.table} ${difference.key}${what}: live ${JSON.stringify(difference.live)} · log ${JSON.stringify(difference.recovered)}`.slice(
        0,
        400,
      ),
    );
  }
  if (differences.length > 50) lines.push(`  … ${differences.length - 50} more (--json lists them)`);
  return lines;
}
