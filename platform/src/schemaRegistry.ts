import { setTimeout as sleep } from 'node:timers/promises';
import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import type { Config } from './config.ts';

export { COMPATIBILITY, SchemaRegistry, SchemaType };

/** A client for the Confluent-compatible schema registry API (Apicurio's `/apis/ccompat/v7` here). */
export function createSchemaRegistry(config: Pick<Config, 'SCHEMA_REGISTRY_URL'>): SchemaRegistry {
  return new SchemaRegistry({ host: config.SCHEMA_REGISTRY_URL, retry: { retries: 3 } });
}

const compatibilityMismatch = 'ConfluentSchemaRegistryCompatibilityError';

/**
 * Registers an Avro schema under `subject` with BACKWARD_TRANSITIVE compatibility and
 * returns its registry id. A change that older readers could not read is refused by the
 * registry and surfaces as an error.
 *
 * The client registers a new subject first and sets its compatibility after; a second process
 * registering the same new subject in between sees the registry's default and is refused. That
 * race is waited out (the first process sets the level a moment later); if the level never comes
 * (the first process died in between), it is set here, when the registry's URL is known.
 */
export async function registerAvroSchema(
  registry: SchemaRegistry,
  subject: string,
  schema: object,
  registryUrl?: string,
): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      const { id } = await registry.register(
        { type: SchemaType.AVRO, schema: JSON.stringify(schema) },
        { subject, compatibility: COMPATIBILITY.BACKWARD_TRANSITIVE },
      );
      return id;
    } catch (error) {
      // Racing a first registration: the level is not set yet, or both set it (Apicurio: 409).
      const racing =
        (error as Error).name === compatibilityMismatch ||
        ((error as { status?: number }).status === 409 && /already exists/i.test((error as Error).message));
      if (!racing || attempt >= 6) throw error;
      if (attempt === 4 && registryUrl) {
        await fetch(`${registryUrl.replace(/\/$/, '')}/config/${encodeURIComponent(subject)}`, {
          method: 'PUT',
          headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
          body: JSON.stringify({ compatibility: COMPATIBILITY.BACKWARD_TRANSITIVE }),
        });
      }
      await sleep(100 * attempt);
    }
  }
}
