/**
 * Operator command: rebuild one projection without downtime, or as of an earlier moment.
 *   npx tsx projections/src/rebuildMain.ts <metadata|usage|vectors> [--skip topic:partition:offset]…
 *   npx tsx projections/src/rebuildMain.ts <projection> --until <ISO time | topic:partition:offset,…>
 *   npx tsx projections/src/rebuildMain.ts promote <projection> <generation>
 *   npx tsx projections/src/rebuildMain.ts drop <projection> <generation>
 *   npx tsx projections/src/rebuildMain.ts list
 * A rebuild builds a new generation from offset 0 while the live one serves, switches once
 * caught up, then drops the old generation. The running projector (`main.ts`) follows the switch.
 * With `--until` the generation is built only up to the bound and kept beside the live one (a
 * snapshot platform admins read with `DeepLens-Generation: <projection>:<generation>`) until
 * promoted (caught up with the log, then switched to) or dropped.
 * A record that cannot be decoded or applied is never skipped silently: the rebuild does not
 * switch, names the records and exits 3; `--skip` passes a named record, recorded.
 * Progress: a bar on a terminal, a line every 5 s otherwise; `/metrics` when METRICS_PORT is set.
 */
import { parseArgs } from 'node:util';
import { createEventSerde, registrySchemaStore } from '@deeplens/events/eventSerde';
import { loadConfig } from '@deeplens/platform/config';
import { createDatabasePool } from '@deeplens/platform/database';
import { ValidationError } from '@deeplens/platform/errors';
import { createKafka } from '@deeplens/platform/kafka';
import { createLogger } from '@deeplens/platform/logger';
import { startMetricsServer } from '@deeplens/platform/metrics';
import { runMigrations } from '@deeplens/platform/migrations';
import { createProgressBar } from '@deeplens/platform/progressBar';
import { createSchemaRegistry } from '@deeplens/platform/schemaRegistry';
import { listGenerations } from './generations.ts';
import {
  createProjectionDependencies,
  loadProjectorEnv,
  projectionDefinitions,
  projectionMigrations,
} from './projectionRuntime.ts';
import { formatBound, parseUntil, type UntilArgument } from './rebuildBound.ts';
import {
  dropSnapshot,
  promoteSnapshot,
  rebuildProjection,
  RebuildIncompleteError,
  type RebuildResult,
} from './rebuildProjection.ts';
import { parseSkipArguments } from './skipArguments.ts';

const names = Object.keys(projectionDefinitions).join('|');
const usage = `usage: rebuildMain.ts <${names}> [--until <ISO time | topic:partition:offset,…>] [--skip topic:partition:offset]…
       rebuildMain.ts promote <${names}> <generation>
       rebuildMain.ts drop <${names}> <generation>
       rebuildMain.ts list`;

type Command =
  | { kind: 'rebuild'; projection: string; until?: UntilArgument; skip: string[] }
  | { kind: 'promote'; projection: string; generation: number }
  | { kind: 'drop'; projection: string; generation: number }
  | { kind: 'list' };

function parseCommand(argv: string[]): Command {
  const [first, ...rest] = argv;
  if (first === 'list' && rest.length === 0) return { kind: 'list' };
  if (first === 'promote' || first === 'drop') {
    const { positionals } = parseArgs({ args: rest, allowPositionals: true, strict: true });
    // `promote metadata 7` or `promote metadata:7`.
    const [projection, generation] =
      positionals.length === 1 ? (positionals[0]!.split(':') as [string, string?]) : positionals;
    if (
      positionals.length > 2 ||
      !projection ||
      !projectionDefinitions[projection] ||
      !/^\d+$/.test(generation ?? '')
    )
      throw new ValidationError(`${first} takes a projection (${names}) and a generation number`);
    return { kind: first, projection, generation: Number(generation) };
  }
  const untilAt = argv.findIndex((a) => a === '--until' || a.startsWith('--until='));
  let until: UntilArgument | undefined;
  const others = [...argv];
  if (untilAt >= 0) {
    const arg = argv[untilAt]!;
    const value = arg.startsWith('--until=') ? arg.slice('--until='.length) : argv[untilAt + 1];
    if (value === undefined) throw new ValidationError('--until needs a value');
    until = parseUntil(value);
    others.splice(untilAt, arg.startsWith('--until=') ? 1 : 2);
  }
  const parsed = parseSkipArguments(others);
  const projection = parsed.positionals[0] ?? '';
  if (!projectionDefinitions[projection] || parsed.positionals.length !== 1)
    throw new ValidationError(`name one projection: ${names}`);
  return { kind: 'rebuild', projection, skip: parsed.skip, ...(until ? { until } : {}) };
}

let command: Command;
try {
  command = parseCommand(process.argv.slice(2));
} catch (error) {
  console.error(`${error instanceof Error ? error.message : String(error)}\n${usage}`);
  process.exit(2);
}
const config = loadConfig();
const env = loadProjectorEnv();
const log = createLogger({ process: 'projection-rebuild' }, config.LOG_LEVEL);
await runMigrations(config.DATABASE_URL, 'projections', projectionMigrations);
const pool = await createDatabasePool(config);
const metrics = config.METRICS_PORT
  ? await startMetricsServer(config.METRICS_HOST, config.METRICS_PORT)
  : undefined;

function describe(result: RebuildResult): string {
  const rate = result.seconds > 0 ? Math.round(result.records / result.seconds) : 0;
  const head = `${result.projection} generation ${result.generation}: ${result.records} records in ${result.seconds.toFixed(1)} s (${rate}/s)`;
  if (result.until) {
    return `${head}, as of ${result.until.label} (ends ${formatBound(result.until.ends)}); kept beside the live generation.
Read it with the header "DeepLens-Generation: ${result.projection}:${result.generation}" (platform admins);
then: rebuildMain.ts promote ${result.projection} ${result.generation}   or   rebuildMain.ts drop ${result.projection} ${result.generation}`;
  }
  return `${head}; now active${result.previous === undefined ? '' : ` (generation ${result.previous} dropped)`}.`;
}

try {
  if (command.kind === 'list') {
    for (const g of await listGenerations(pool)) {
      console.log(
        `${g.projection}:${g.generation}\t${g.status}\t${new Date(g.createdAt).toISOString()}${g.until ? `\tuntil ${g.until.label}` : ''}`,
      );
    }
  } else {
    const definition = projectionDefinitions[command.projection]!;
    const runtime = {
      kafka: createKafka(config, 'deeplens-projection-rebuild'),
      serde: createEventSerde(registrySchemaStore(createSchemaRegistry(config), config.SCHEMA_REGISTRY_URL)),
      deps: createProjectionDependencies(config, pool, log, env.DEEPLENS_VECTOR_NAMESPACE),
      databaseUrl: config.DATABASE_URL,
      topics: env.DEEPLENS_PROJECTION_TOPICS,
      groupPrefix: env.DEEPLENS_PROJECTION_GROUP_PREFIX,
      sessionTimeoutMs: env.DEEPLENS_PROJECTION_SESSION_TIMEOUT_MS,
      log,
    };
    if (command.kind === 'drop') {
      await dropSnapshot(definition, command.generation, runtime);
      console.log(`${command.projection} generation ${command.generation} dropped.`);
    } else {
      const bar = createProgressBar(
        process.stderr,
        `${command.kind === 'promote' ? 'promoting' : 'rebuilding'} ${command.projection}`,
        { plainEveryMs: 5_000 },
      );
      const withProgress = {
        ...runtime,
        onProgress: (p: { done: number; total: number; elapsedMs: number }) =>
          bar.update({ ...p, failed: 0 }),
      };
      const run = command;
      const result = await (
        run.kind === 'promote'
          ? promoteSnapshot(definition, run.generation, withProgress)
          : rebuildProjection(definition, {
              ...withProgress,
              skip: run.skip,
              ...(run.until ? { until: run.until } : {}),
            })
      ).finally(() => bar.finish());
      log.info('rebuilt', {
        ...result,
        recordsPerSecond: Math.round(result.records / (result.seconds || 1)),
      });
      console.log(describe(result));
    }
  }
} catch (error) {
  if (error instanceof RebuildIncompleteError) {
    log.error('rebuild incomplete; nothing was switched', {
      records: error.halted.map((h) => ({ ...h, address: `${h.topic}:${h.partition}:${h.offset}` })),
    });
    console.error(`rebuild failed: ${error.message}`);
    process.exitCode = 3;
  } else if (error instanceof ValidationError) {
    console.error(`${error.message}\n${usage}`);
    process.exitCode = 2;
  } else {
    console.error(`rebuild failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
} finally {
  metrics?.close();
  await pool.end();
}
process.exit(process.exitCode ?? 0);
