import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { intakeEnvelopeSchema, schemasDir } from '@deeplens/events/eventSchemas';
import { UnavailableError } from '@deeplens/platform/errors';
import { registerAvroSchema, type SchemaRegistry } from '@deeplens/platform/schemaRegistry';
import { subjectOf } from '@deeplens/events/topics';

/** The bundled intake schema integrators load: one self-contained file. */
export const intakeSchemaFile = join(schemasDir, 'intake', 'IntakeEnvelope.avsc');

/**
 * Registers the intake subject of `intakeTopic` (TopicRecordNameStrategy) before any
 * integration produces, so a stock serializer with auto-registration off finds it. Registered
 * twice over: as DeepLens's own serde writes it (compact JSON) and as the file's exact text,
 * because a registry may match a looked-up schema by its text (Apicurio does unless the
 * lookup asks to normalize), and a stock client sends the file as it read it.
 */
export async function registerIntakeSubject(
  registry: SchemaRegistry,
  registryUrl: string,
  intakeTopic: string,
): Promise<number> {
  const subject = subjectOf(intakeTopic, intakeEnvelopeSchema.recordName);
  await registerAvroSchema(registry, subject, intakeEnvelopeSchema.schema, registryUrl);
  const response = await fetch(
    `${registryUrl.replace(/\/$/, '')}/subjects/${encodeURIComponent(subject)}/versions`,
    {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      // Stock clients strip the text's surrounding whitespace (confluent-kafka's `_schema_loads`).
      body: JSON.stringify({ schema: (await readFile(intakeSchemaFile, 'utf8')).trim() }),
    },
  ).catch((error: unknown) => {
    throw new UnavailableError('the schema registry is unreachable', { cause: error });
  });
  if (!response.ok)
    throw new UnavailableError(
      `registering ${subject} as the bundled file: HTTP ${response.status} ${await response.text()}`,
    );
  return ((await response.json()) as { id: number }).id;
}
