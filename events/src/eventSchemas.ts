import avro from 'avsc';
import type { Schema, Type as AvroType } from 'avsc';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { deepLensEventTypes, type DeepLensEventType } from './domainEvent.ts';
import { subjectOf, topicOf, topics, type Topic } from './topics.ts';

/** An Avro schema as JSON. */
export type AvroSchema = string | AvroSchema[] | { [key: string]: unknown };

/** One registrable record schema: what the registry stores under `subject`. */
export type RecordSchema = {
  /** Full Avro name, e.g. `deeplens.tenant.TenantProvisioned`. */
  recordName: string;
  topic: Topic;
  /** `${topic}-${recordName}` (TopicRecordNameStrategy). */
  subject: string;
  /** Self-contained JSON: every shared named type (`deeplens.EventMetadata`…) is inlined. */
  schema: Record<string, unknown>;
  /** avsc type of `schema`; timestamps stay plain numbers, unions of null and X stay unwrapped. */
  type: AvroType;
};

export type EventSchema<T extends DeepLensEventType = DeepLensEventType> = RecordSchema & { eventType: T };

export type SchemaCatalog = {
  events: { readonly [T in DeepLensEventType]: EventSchema<T> };
  intakeEnvelope: RecordSchema;
};

/** `schemas/` at the repository root: the source of truth for the wire format. */
export const schemasDir = resolve(import.meta.dirname, '..', '..', 'schemas');

const primitives = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string']);
const named = new Set(['record', 'error', 'enum', 'fixed']);
const intakeEnvelopeName = 'deeplens.intake.IntakeEnvelope';

type NamedDefinition = { file: string; schema: Record<string, unknown> };

/** avsc options shared by every DeepLens type: no logical types, so timestamps are numbers. */
export function avroTypeOf(schema: AvroSchema): AvroType {
  return avro.Type.forSchema(schema as Schema, { wrapUnions: 'auto' });
}

/**
 * Reads every `.avsc` under `dir` and builds the self-contained schema and avsc type of every
 * event and of the intake envelope. Each file holds one top-level named type; a reference to a
 * type of another file is replaced by its definition where it first occurs.
 */
export function loadSchemaCatalog(dir: string = schemasDir): SchemaCatalog {
  const definitions = new Map<string, NamedDefinition>();
  for (const file of avscFiles(dir)) {
    const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (!isObject(parsed) || typeof parsed.name !== 'string') {
      throw new Error(`${relative(dir, file)}: expected one top-level named type`);
    }
    const fullName = qualify(parsed.name, typeof parsed.namespace === 'string' ? parsed.namespace : '');
    const existing = definitions.get(fullName);
    if (existing) throw new Error(`${fullName} is defined in both ${existing.file} and ${file}`);
    definitions.set(fullName, { file: relative(dir, file), schema: parsed });
  }

  const recordSchema = (recordName: string, topic: Topic): RecordSchema => {
    const definition = definitions.get(recordName);
    if (!definition) throw new Error(`No schema for ${recordName} in ${dir}`);
    const schema = inline(definition.schema, '', definitions, new Set()) as Record<string, unknown>;
    return { recordName, topic, subject: subjectOf(topic, recordName), schema, type: avroTypeOf(schema) };
  };

  const events = Object.fromEntries(
    deepLensEventTypes.map((eventType) => {
      const candidates = [...definitions.keys()].filter((name) => name.endsWith(`.${eventType}`));
      if (candidates.length !== 1 || candidates[0] === undefined) {
        throw new Error(`Expected one schema named ${eventType}, found ${candidates.length}`);
      }
      return [eventType, { eventType, ...recordSchema(candidates[0], topicOf(eventType)) }];
    }),
  ) as SchemaCatalog['events'];

  return { events, intakeEnvelope: recordSchema(intakeEnvelopeName, topics.intake) };
}

function avscFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.avsc'))
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function qualify(name: string, namespace: string): string {
  return name.includes('.') || namespace === '' ? name : `${namespace}.${name}`;
}

/** Copies `schema`, inlining references to other files' types; `defined` tracks names already written. */
function inline(
  schema: unknown,
  namespace: string,
  definitions: ReadonlyMap<string, NamedDefinition>,
  defined: Set<string>,
): AvroSchema {
  if (typeof schema === 'string') {
    if (primitives.has(schema)) return schema;
    const fullName = qualify(schema, namespace);
    if (defined.has(fullName)) return fullName;
    const definition = definitions.get(fullName);
    if (!definition) throw new Error(`Unknown Avro type ${fullName}`);
    return inline(definition.schema, namespace, definitions, defined);
  }
  if (Array.isArray(schema)) return schema.map((branch) => inline(branch, namespace, definitions, defined));
  if (!isObject(schema)) throw new Error(`Not an Avro schema: ${JSON.stringify(schema)}`);

  const { type } = schema;
  if (typeof type !== 'string' || !named.has(type)) {
    const copy: Record<string, unknown> = { ...schema };
    if (type === 'array') copy.items = inline(schema.items, namespace, definitions, defined);
    else if (type === 'map') copy.values = inline(schema.values, namespace, definitions, defined);
    else if (typeof type !== 'string' || !primitives.has(type)) {
      copy.type = inline(type, namespace, definitions, defined);
    }
    return copy;
  }

  if (typeof schema.name !== 'string') throw new Error(`A ${type} needs a name: ${JSON.stringify(schema)}`);
  const ownNamespace = typeof schema.namespace === 'string' ? schema.namespace : namespace;
  const fullName = qualify(schema.name, ownNamespace);
  if (defined.has(fullName)) throw new Error(`${fullName} is defined twice`);
  defined.add(fullName);
  const innerNamespace = fullName.includes('.') ? fullName.slice(0, fullName.lastIndexOf('.')) : '';
  const copy: Record<string, unknown> = { ...schema };
  if (type === 'record' || type === 'error') {
    if (!Array.isArray(schema.fields)) throw new Error(`${fullName} has no fields`);
    copy.fields = schema.fields.map((field: unknown) => {
      if (!isObject(field)) throw new Error(`${fullName} has a malformed field`);
      return { ...field, type: inline(field.type, innerNamespace, definitions, defined) };
    });
  }
  return copy;
}

const catalog = loadSchemaCatalog();

/** Event type → record name, topic, subject, self-contained schema JSON and avsc type. */
export const eventSchemas: SchemaCatalog['events'] = catalog.events;

/** The intake envelope (`deeplens.intake.IntakeEnvelope` on `deeplens.intake.v1`). */
export const intakeEnvelopeSchema: RecordSchema = catalog.intakeEnvelope;

export function eventSchemaOf<T extends DeepLensEventType>(eventType: T): EventSchema<T> {
  return eventSchemas[eventType];
}

const eventTypeByRecordName = new Map<string, DeepLensEventType>(
  Object.values(eventSchemas).map((entry) => [entry.recordName, entry.eventType]),
);

/** The event type a registered record name stands for (how a consumer knows what it decoded). */
export function eventTypeOfRecordName(recordFullName: string): DeepLensEventType | undefined {
  return eventTypeByRecordName.get(recordFullName);
}

/** Every subject DeepLens registers, with its schema: what CI registers and checks. */
export function registrableSchemas(): RecordSchema[] {
  return [...Object.values(eventSchemas), intakeEnvelopeSchema];
}
