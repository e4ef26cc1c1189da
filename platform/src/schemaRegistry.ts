import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import type { Config } from './config.ts';

export { COMPATIBILITY, SchemaRegistry, SchemaType };

/** A client for the Confluent-compatible schema registry API (Apicurio's `/apis/ccompat/v7` here). */
export function createSchemaRegistry(config: Pick<Config, 'SCHEMA_REGISTRY_URL'>): SchemaRegistry {
  return new SchemaRegistry({ host: config.SCHEMA_REGISTRY_URL, retry: { retries: 3 } });
}

/**
 * Registers an Avro schema under `subject` with BACKWARD_TRANSITIVE compatibility and
 * returns its registry id. A change that older readers could not read is refused by the
 * registry and surfaces as an error.
 */
export async function registerAvroSchema(
  registry: SchemaRegistry,
  subject: string,
  schema: object,
): Promise<number> {
  const { id } = await registry.register(
    { type: SchemaType.AVRO, schema: JSON.stringify(schema) },
    { subject, compatibility: COMPATIBILITY.BACKWARD_TRANSITIVE },
  );
  return id;
}
