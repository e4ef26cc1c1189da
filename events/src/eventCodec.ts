import type { Type as AvroType } from 'avsc';
import { ValidationError } from '@deeplens/platform/errors';
import type { DeepLensEvent, DeepLensEventType, EventOfType } from './domainEvent.ts';
import { compileRecordReader, type RecordReader } from './avroRecordReader.ts';
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

/**
 * `ImageEmbedded` is what a replay of the vector projection reads by the ten thousand, most of
 * it the vector: it has a reader of its own (`compileRecordReader`) for records written with
 * today's schema. Records of any other schema version go through avsc's resolution.
 */
const fastReaders: { readonly [T in DeepLensEventType]?: RecordReader } = {
  ImageEmbedded: compileRecordReader(eventSchemas.ImageEmbedded.type, ['data.vector']),
};

const sameSchema = new WeakMap<AvroType, WeakMap<AvroType, boolean>>();

function writtenWithReaderSchema(reader: AvroType, writerType: AvroType | undefined): boolean {
  if (!writerType || writerType === reader) return true;
  let byWriter = sameSchema.get(reader);
  if (!byWriter) sameSchema.set(reader, (byWriter = new WeakMap()));
  let same = byWriter.get(writerType);
  // Canonical-form equality: the same fields, types and order, so the same binary layout.
  if (same === undefined) byWriter.set(writerType, (same = reader.equals(writerType)));
  return same;
}

export function decodeEvent<T extends DeepLensEventType>(
  eventType: T,
  bytes: Buffer,
  writerType?: AvroType,
): EventOfType<T> {
  const reader = eventSchemas[eventType].type;
  const fast = fastReaders[eventType];
  if (fast && writtenWithReaderSchema(reader, writerType)) {
    const { metadata, data } = fast(bytes);
    return { type: eventType, data, metadata } as unknown as EventOfType<T>;
  }
  return fromAvro(eventType, read(reader, bytes, writerType));
}

export function encodeIntakeEnvelope(envelope: IntakeEnvelope): Buffer {
  return intakeEnvelopeSchema.type.toBuffer(intakeEnvelopeToAvro(envelope));
}

export function decodeIntakeEnvelope(bytes: Buffer, writerType?: AvroType): IntakeEnvelope {
  return intakeEnvelopeFromAvro(read(intakeEnvelopeSchema.type, bytes, writerType));
}

/**
 * The bytes an intake record's signature covers: the record's value exactly as the producer
 * wrote it, without its first byte (the Confluent magic byte), i.e. the 4-byte big-endian
 * schema id followed by the Avro body. The write side verifies them before it decodes
 * anything, so the order of a map, the writer's schema version or any other choice of the
 * producer's encoder cannot make a correct signature fail, and no re-encoding is trusted.
 */
export function intakeSigningPayload(recordValue: Buffer): Buffer {
  if (recordValue.length < 5 || recordValue[0] !== 0) {
    throw new ValidationError('not a schema-registry framed Avro record (bad magic byte)');
  }
  return recordValue.subarray(1);
}
