import type { Kafka } from 'kafkajs';
import type { Config } from '@deeplens/platform/config';
import { createKafka } from '@deeplens/platform/kafka';
import { runMigrations } from '@deeplens/platform/migrations';
import { createSchemaRegistry, type SchemaRegistry } from '@deeplens/platform/schemaRegistry';
import { ensureInstallationTopics } from './ensureEventTopics.ts';
import { createEventSerde, registrySchemaStore, type EventSerde, type SchemaStore } from './eventSerde.ts';

/** A set of migrations a process applies before it starts: the models it owns or writes. */
export type ProcessMigrations = { component: string; directory: string };

export type ProcessLog = {
  kafka: Kafka;
  registry: SchemaRegistry;
  schemaStore: SchemaStore;
  serde: EventSerde;
};

/**
 * What every DeepLens process does before its own work, in this order: applies the migrations
 * of the models it writes, makes its Kafka client, verifies (or creates) the installation's
 * topics with their log-of-record settings (`ensureTopics: false` only where a test names its
 * own topics), and opens the event serde on the schema registry.
 */
export async function bootstrapProcess(
  config: Config,
  options: { clientId: string; migrations?: readonly ProcessMigrations[]; ensureTopics?: boolean },
): Promise<ProcessLog> {
  for (const { component, directory } of options.migrations ?? [])
    await runMigrations(config.DATABASE_URL, component, directory);
  const kafka = createKafka(config, options.clientId);
  if (options.ensureTopics ?? true) await ensureInstallationTopics(kafka, config);
  const registry = createSchemaRegistry(config);
  const schemaStore = registrySchemaStore(registry, config.SCHEMA_REGISTRY_URL);
  return { kafka, registry, schemaStore, serde: createEventSerde(schemaStore) };
}
