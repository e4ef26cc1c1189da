import type { Type as AvroType } from 'avsc';
import type { DeepLensEvent, DeepLensEventType, EventOfType } from './domainEvent.ts';
import { fromAvro, intakeEnvelopeFromAvro, intakeEnvelopeToAvro, toAvro } from './avroValues.ts';
import { eventSchemas, intakeEnvelopeSchema } from './eventSchemas.ts';
import type { IntakeEnvelope } from './intakeRecords.ts';

/**
 * Plain Avro binary (no Confluent wire-format header) of events and intake envelopes. The
 * registry serde adds the magic byte and schema id; when it decodes with the writer's schema
 * it passes that schema's type as `writerType`, so an old event reads with today's schema
 * (fields added since take their defaults).
 */

const resolvers = new WeakMap<AvroType, WeakMap<AvroType, ReturnType<AvroType['createResolver']>>>();

function resolverFor(reader: AvroType, writer: AvroType) {
  let byWriter = resolvers.get(reader);
  if (!byWriter) resolvers.set(reader, (byWriter = new WeakMap()));
  let resolver = byWriter.get(writer);
  if (!resolver) byWriter.set(writer, (resolver = reader.createResolver(writer)));
  return resolver;
}

function read(reader: AvroType, bytes: Buffer, writerType?: AvroType): unknown {
  if (!writerType || writerType === reader) return reader.fromBuffer(bytes) as unknown;
  return reader.fromBuffer(bytes, resolverFor(reader, writerType)) as unknown;
}

export function encodeEvent(event: DeepLensEvent): Buffer {
  return eventSchemas[event.type].type.toBuffer(toAvro(event));
}

export function decodeEvent<T extends DeepLensEventType>(
  eventType: T,
  bytes: Buffer,
  writerType?: AvroType,
): EventOfType<T> {
  return fromAvro(eventType, read(eventSchemas[eventType].type, bytes, writerType));
}

export function encodeIntakeEnvelope(envelope: IntakeEnvelope): Buffer {
  return intakeEnvelopeSchema.type.toBuffer(intakeEnvelopeToAvro(envelope));
}

export function decodeIntakeEnvelope(bytes: Buffer, writerType?: AvroType): IntakeEnvelope {
  return intakeEnvelopeFromAvro(read(intakeEnvelopeSchema.type, bytes, writerType));
}

/**
 * The bytes an integration signs (and the write side verifies): the envelope's Avro encoding
 * with an empty signature, so the signature covers request id, tenant, key id and command.
 */
export function intakeSigningPayload(envelope: IntakeEnvelope): Buffer {
  return encodeIntakeEnvelope({ ...envelope, auth: { ...envelope.auth, signature: Buffer.alloc(0) } });
}
