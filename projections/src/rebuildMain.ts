/**
 * Operator command: rebuild one projection without downtime.
 *   npx tsx projections/src/rebuildMain.ts <metadata|usage|vectors>
 * Builds a new generation from offset 0 while the live one serves, switches once caught up,
 * then drops the old generation. The running projector (`main.ts`) follows the switch.
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
import { rebuildProjection } from './rebuildProjection.ts';

const name = process.argv[2] ?? '';
const definition = projectionDefinitions[name];
if (!definition) {
  console.error(`usage: rebuildMain.ts <${Object.keys(projectionDefinitions).join('|')}>`);
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
    log,
  });
  log.info('rebuilt', { ...result, recordsPerSecond: Math.round(result.records / result.seconds) });
} finally {
  await pool.end();
}
