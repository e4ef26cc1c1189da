/**
 * Operator command: rebuild one projection without downtime.
 *   npx tsx projections/src/rebuildMain.ts <metadata|usage|vectors> [--skip topic:partition:offset]…
 * Builds a new generation from offset 0 while the live one serves, switches once caught up,
 * then drops the old generation. The running projector (`main.ts`) follows the switch.
 * A record that cannot be decoded or applied is never skipped silently: the rebuild does not
 * switch, names the records and exits 3; `--skip` passes a named record, recorded.
 */
import { createEventSerde, registrySchemaStore } from '@deeplens/events/eventSerde';
import { loadConfig } from '@deeplens/platform/config';
import { createDatabasePool } from '@deeplens/platform/database';
import { createKafka } from '@deeplens/platform/kafka';
import { createLogger } from '@deeplens/platform/logger';
import { runMigrations } from '@deeplens/platform/migrations';
import { createSchemaRegistry } from '@deeplens/platform/schemaRegistry';
import {
  createProjectionDependencies,
  loadProjectorEnv,
  projectionDefinitions,
  projectionMigrations,
} from './projectionRuntime.ts';
import { rebuildProjection, RebuildIncompleteError } from './rebuildProjection.ts';
import { parseSkipArguments } from './skipArguments.ts';

const usage = `usage: rebuildMain.ts <${Object.keys(projectionDefinitions).join('|')}> [--skip topic:partition:offset]…`;
let parsed: ReturnType<typeof parseSkipArguments>;
try {
  parsed = parseSkipArguments(process.argv.slice(2));
} catch (error) {
  console.error(`${error instanceof Error ? error.message : String(error)}\n${usage}`);
  process.exit(2);
}
const name = parsed.positionals[0] ?? '';
const definition = projectionDefinitions[name];
if (!definition || parsed.positionals.length !== 1) {
  console.error(usage);
  process.exit(2);
}
const config = loadConfig();
const env = loadProjectorEnv();
const log = createLogger({ process: 'projection-rebuild' }, config.LOG_LEVEL);
await runMigrations(config.DATABASE_URL, 'projections', projectionMigrations);
const pool = await createDatabasePool(config);
try {
  const result = await rebuildProjection(definition, {
    kafka: createKafka(config, 'deeplens-projection-rebuild'),
    serde: createEventSerde(registrySchemaStore(createSchemaRegistry(config), config.SCHEMA_REGISTRY_URL)),
    deps: createProjectionDependencies(config, pool, log, env.DEEPLENS_VECTOR_NAMESPACE),
    databaseUrl: config.DATABASE_URL,
    topics: env.DEEPLENS_PROJECTION_TOPICS,
    groupPrefix: env.DEEPLENS_PROJECTION_GROUP_PREFIX,
    sessionTimeoutMs: env.DEEPLENS_PROJECTION_SESSION_TIMEOUT_MS,
    skip: parsed.skip,
    log,
  });
  log.info('rebuilt', { ...result, recordsPerSecond: Math.round(result.records / result.seconds) });
} catch (error) {
  if (!(error instanceof RebuildIncompleteError)) throw error;
  log.error('rebuild incomplete; nothing was switched', {
    records: error.halted.map((h) => ({ ...h, address: `${h.topic}:${h.partition}:${h.offset}` })),
  });
  console.error(`rebuild of ${name} failed: ${error.message}`);
  process.exitCode = 3;
} finally {
  await pool.end();
}
process.exit(process.exitCode ?? 0);
