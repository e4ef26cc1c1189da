import type { Type as AvroType } from 'avsc';
import { registerAvroSchema, type SchemaRegistry } from '@deeplens/platform/schemaRegistry';
import type { DataKeyStore } from '@deeplens/platform/dataKeys';
import { installationDataKeyStore } from '@deeplens/platform/kafkaDataKeyStore';
import { UnavailableError, ValidationError } from '@deeplens/platform/errors';
import type { AvroEventValue } from './avroValues.ts';
import type { DeepLensEvent, DeepLensEventType } from './domainEvent.ts';
import { decodeEvent, decodeIntakeEnvelope } from './eventCodec.ts';
import {
  avroTypeOf,
  eventSchemaOf,
  eventTypeOfRecordName,
  intakeEnvelopeSchema,
  type RecordSchema,
} from './eventSchemas.ts';
import type { IntakeEnvelope } from './intakeRecords.ts';
import { carriesPersonalData, openPersonalData, sealPersonalData } from './personalData.ts';

const magicByte = 0;
const headerLength = 5;

/** The registry calls the serde needs: register a subject's schema, read a schema by id. */
export type SchemaStore = {
  register(subject: string, schema: Record<string, unknown>): Promise<number>;
  schemaById(id: number): Promise<Record<string, unknown>>;
};

/** A `SchemaStore` over the Confluent-compatible API (the client for writes, its REST path for reads). */
export function registrySchemaStore(registry: SchemaRegistry, registryUrl: string): SchemaStore {
  return {
    register: (subject, schema) => registerAvroSchema(registry, subject, schema, registryUrl),
    async schemaById(id) {
      const response = await fetch(`${registryUrl.replace(/\/$/, '')}/schemas/ids/${id}`).catch(
        (error: unknown) => {
          throw new UnavailableError('the schema registry is unreachable', { cause: error });
        },
      );
      // An id the registry never issued means the record is not ours; anything else may pass.
      if (response.status === 404) throw new ValidationError(`schema id ${id} is not in the registry`);
      if (!response.ok) throw new UnavailableError(`the schema registry answered HTTP ${response.status}`);
      const body = (await response.json()) as { schema: string };
      return JSON.parse(body.schema) as Record<string, unknown>;
    },
  };
}

/** Confluent wire format: magic byte 0, the schema id as 4 bytes big-endian, then Avro binary. */
export function frame(schemaId: number, avroBinary: Buffer): Buffer {
  const header = Buffer.alloc(headerLength);
  header.writeUInt8(magicByte, 0);
  header.writeUInt32BE(schemaId, 1);
  return Buffer.concat([header, avroBinary]);
}

export function unframe(message: Buffer): { schemaId: number; payload: Buffer } {
  if (message.length < headerLength || message[0] !== magicByte) {
    throw new ValidationError('not a schema-registry framed Avro record (bad magic byte)');
  }
  return { schemaId: message.readUInt32BE(1), payload: message.subarray(headerLength) };
}

/**
 * Turns events into registry-framed Avro and back. Each event type is registered once under
 * its topic-record subject; decoding reads with today's schema through the writer's schema,
 * so records written by an older schema version still decode (new fields take defaults).
 *
 * It is also where personal data is sealed and opened (crypto-shredding, `personalData.ts`):
 * framing an event that carries some encrypts it under its subjects' data keys, and decoding
 * opens it, or shows the subject as erased once a key is destroyed. Without `dataKeys` it uses
 * the installation's store (`installationDataKeyStore`, started from the environment on first
 * need), so no process can publish personal data in clear by omission.
 */
export function createEventSerde(store: SchemaStore, options: { dataKeys?: DataKeyStore } = {}) {
  const dataKeys = options.dataKeys ?? installationDataKeyStore();
  const idBySubject = new Map<string, Promise<number>>();
  const writerById = new Map<number, Promise<{ recordName: string; type: AvroType }>>();

  function schemaIdOf(schema: RecordSchema): Promise<number> {
    let id = idBySubject.get(schema.subject);
    if (!id) {
      id = store.register(schema.subject, schema.schema);
      id.catch(() => idBySubject.delete(schema.subject));
      idBySubject.set(schema.subject, id);
    }
    return id;
  }

  function writerOf(schemaId: number) {
    let writer = writerById.get(schemaId);
    if (!writer) {
      writer = store.schemaById(schemaId).then((schema) => {
        const namespace = typeof schema.namespace === 'string' ? `${schema.namespace}.` : '';
        const name = String(schema.name);
        return { recordName: name.includes('.') ? name : `${namespace}${name}`, type: avroTypeOf(schema) };
      });
      writer.catch(() => writerById.delete(schemaId));
      writerById.set(schemaId, writer);
    }
    return writer;
  }

  return {
    /** Registers (once) and returns the schema id of an event type. */
    schemaIdOf: (eventType: DeepLensEventType) => schemaIdOf(eventSchemaOf(eventType)),
    /** Frames an event already encoded as plain Avro (as the outbox stores it). */
    async frameEncoded(eventType: DeepLensEventType, avroBinary: Buffer): Promise<Buffer> {
      const schema = eventSchemaOf(eventType);
      if (!carriesPersonalData(eventType)) return frame(await schemaIdOf(schema), avroBinary);
      const sealed = await sealPersonalData(
        eventType,
        schema.type.fromBuffer(avroBinary) as AvroEventValue,
        dataKeys,
      );
      return frame(await schemaIdOf(schema), schema.type.toBuffer(sealed));
    },
    async decodeEvent(message: Buffer): Promise<DeepLensEvent> {
      const { schemaId, payload } = unframe(message);
      const writer = await writerOf(schemaId);
      const eventType = eventTypeOfRecordName(writer.recordName);
      if (!eventType)
        throw new ValidationError(`schema ${schemaId} (${writer.recordName}) is not a DeepLens event`);
      const event = decodeEvent(eventType, payload, writer.type);
      return carriesPersonalData(eventType) ? openPersonalData(event, dataKeys) : event;
    },
    async encodeIntakeEnvelope(avroBinary: Buffer): Promise<Buffer> {
      return frame(await schemaIdOf(intakeEnvelopeSchema), avroBinary);
    },
    async decodeIntakeEnvelope(message: Buffer): Promise<IntakeEnvelope> {
      const { schemaId, payload } = unframe(message);
      const writer = await writerOf(schemaId);
      if (writer.recordName !== intakeEnvelopeSchema.recordName) {
        throw new ValidationError(`schema ${schemaId} (${writer.recordName}) is not an intake envelope`);
      }
      return decodeIntakeEnvelope(payload, writer.type);
    },
  };
}

export type EventSerde = ReturnType<typeof createEventSerde>;
