import { endianness } from 'node:os';
import { assertNever } from './assertNever.ts';
import type { DeepLensEvent, DeepLensEventType, EventOfType } from './domainEvent.ts';
import type { EventMetadata } from './event.ts';
import type { IntakeCommand, IntakeEnvelope } from './intakeRecords.ts';
import { carriesPersonalData } from './personalData.ts';

/**
 * The one place where TypeScript values and Avro values differ:
 * - an event is `{ type, data, metadata }` in TypeScript, `{ metadata, data }` in Avro (the
 *   type is the record's name);
 * - `ImageEmbedded.data.vector` is a `Float32Array` in TypeScript, float32 little-endian `bytes`
 *   in Avro;
 * - the intake `command` union is `{ type, data }` in TypeScript and avsc's wrapped union
 *   `{ 'deeplens.intake.RegisterImage': {...} }` in Avro;
 * - avsc decodes records into class instances; we hand out plain objects.
 */

/** The Avro value of an event, as its avsc type encodes it. */
export type AvroEventValue = { metadata: EventMetadata; data: Record<string, unknown> };

const littleEndian = endianness() === 'LE';

/** Float32 little-endian bytes of a vector (a copy). */
export function vectorToBytes(vector: Float32Array): Buffer {
  if (littleEndian) return Buffer.from(new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength));
  const bytes = Buffer.allocUnsafe(vector.length * 4);
  vector.forEach((value, i) => bytes.writeFloatLE(value, i * 4));
  return bytes;
}

/** A vector from float32 little-endian bytes (a copy, so it is aligned and owns its memory). */
export function vectorFromBytes(bytes: Uint8Array): Float32Array {
  if (bytes.byteLength % 4 !== 0) {
    throw new Error(`A float32 vector needs a multiple of 4 bytes, got ${bytes.byteLength}`);
  }
  const vector = new Float32Array(bytes.byteLength / 4);
  if (littleEndian) new Uint8Array(vector.buffer).set(bytes);
  else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < vector.length; i++) vector[i] = view.getFloat32(i * 4, true);
  }
  return vector;
}

/** The Avro value of an event, ready for its type in `eventSchemas`. */
export function toAvro(event: DeepLensEvent): AvroEventValue {
  if (event.type === 'ImageEmbedded') {
    return {
      metadata: event.metadata,
      data: {
        ...event.data,
        vector: vectorToBytes(event.data.vector),
        perceptualHash: event.data.perceptualHash ?? null,
        localFeatures: event.data.localFeatures ? Buffer.from(event.data.localFeatures) : null,
      },
    };
  }
  // Personal data travels sealed in Kafka (`personalData.ts`); a plain encoding has no seal.
  if (carriesPersonalData(event.type))
    return { metadata: event.metadata, data: { ...event.data, personalData: null } };
  return { metadata: event.metadata, data: event.data };
}

/** The event an Avro value (decoded with the reader schema of `eventType`) stands for. */
export function fromAvro<T extends DeepLensEventType>(eventType: T, value: unknown): EventOfType<T> {
  const plain = toPlain(value);
  if (!isRecord(plain) || !isRecord(plain.metadata) || !isRecord(plain.data)) {
    throw new Error(`Not an Avro value of ${eventType}`);
  }
  const data = plain.data;
  // Sealed personal data (`personalData.ts`) is opened by the serde; an empty seal is no field.
  if (data.personalData === null) delete data.personalData;
  if (eventType === 'ImageEmbedded') {
    if (!Buffer.isBuffer(data.vector)) throw new Error('ImageEmbedded.data.vector must be bytes');
    data.vector = vectorFromBytes(data.vector);
  }
  return { type: eventType, data, metadata: plain.metadata } as unknown as EventOfType<T>;
}

const intakeNamespace = 'deeplens.intake';

/** The Avro value of an intake envelope, ready for `intakeEnvelopeSchema.type`. */
export function intakeEnvelopeToAvro(envelope: IntakeEnvelope): Record<string, unknown> {
  const { command } = envelope;
  return { ...envelope, command: { [`${intakeNamespace}.${command.type}`]: command.data } };
}

/** The intake envelope an Avro value (decoded with `intakeEnvelopeSchema.type`) stands for. */
export function intakeEnvelopeFromAvro(value: unknown): IntakeEnvelope {
  const plain = toPlain(value);
  if (!isRecord(plain) || !isRecord(plain.command)) throw new Error('Not an Avro intake envelope');
  const [branch, data] = Object.entries(plain.command)[0] ?? [];
  const type = branch?.slice(intakeNamespace.length + 1) as IntakeCommand['type'];
  switch (type) {
    case 'RegisterImage':
    case 'UpdateImageMetadata':
    case 'DeleteImage':
      return { ...plain, command: { type, data } } as unknown as IntakeEnvelope;
    default:
      return assertNever(type, 'intake command');
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deep copy of a decoded value with avsc's record instances turned into plain objects. */
function toPlain(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toPlain);
  if (typeof value !== 'object' || value === null || Buffer.isBuffer(value)) return value;
  const plain: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) plain[key] = toPlain(field);
  return plain;
}
