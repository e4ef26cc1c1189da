import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import avro, { type Type as AvroType, type types } from 'avsc';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { toAvro, vectorFromBytes, vectorToBytes } from './avroValues.ts';
import { deepLensEventTypes } from './domainEvent.ts';
import {
  decodeEvent,
  decodeIntakeEnvelope,
  encodeEvent,
  encodeIntakeEnvelope,
  intakeSigningPayload,
} from './eventCodec.ts';
import {
  eventSchemas,
  eventTypeOfRecordName,
  intakeEnvelopeSchema,
  registrableSchemas,
  schemasDir,
} from './eventSchemas.ts';
import { sampleEvents, sampleIntakeEnvelopes } from './testing/sampleEvents.ts';
import { subjectOf, topicOf, topics } from './topics.ts';

/**
 * Fails when a schema gains a field the TypeScript sample (and so the TypeScript type, since the
 * sample is checked against it) does not have: walks the avsc type and the value together.
 */
function missingFields(type: AvroType, value: unknown, path: string): string[] {
  switch (type.typeName) {
    case 'record': {
      const record = value as Record<string, unknown>;
      return (type as types.RecordType).fields.flatMap((field) =>
        Object.hasOwn(record, field.name) && record[field.name] !== undefined
          ? missingFields(field.type, record[field.name], `${path}.${field.name}`)
          : [`${path}.${field.name}`],
      );
    }
    case 'union:unwrapped':
      if (value === null) return [];
      return (type as types.UnwrappedUnionType).types
        .filter((branch) => branch.typeName !== 'null')
        .flatMap((branch) => missingFields(branch, value, path));
    case 'union:wrapped': {
      const [branchName, branchValue] = Object.entries(value as object)[0] ?? [];
      const branch = (type as types.WrappedUnionType).types.find((t) => t.branchName === branchName);
      return branch
        ? missingFields(branch, branchValue, `${path}<${branchName}>`)
        : [`${path}<${branchName}>`];
    }
    case 'array':
      return (value as unknown[]).flatMap((item, i) =>
        missingFields((type as types.ArrayType).itemsType, item, `${path}[${i}]`),
      );
    default:
      return [];
  }
}

describe('event schemas', () => {
  it('has a self-contained schema for every event type, named after it', () => {
    for (const eventType of deepLensEventTypes) {
      const entry = eventSchemas[eventType];
      assert.equal(entry.eventType, eventType);
      assert.match(
        entry.recordName,
        new RegExp(`^deeplens\\.(tenant|identity|image|intake)\\.${eventType}$`),
      );
      assert.equal(entry.topic, topicOf(eventType));
      assert.equal(entry.subject, `${entry.topic}-${entry.recordName}`);
      assert.equal(eventTypeOfRecordName(entry.recordName), eventType);
      const json = JSON.stringify(entry.schema);
      assert.match(
        json,
        /"name":"EventMetadata","namespace":"deeplens"/,
        `${eventType} inlines its metadata`,
      );
      assert.deepEqual(JSON.parse(json), entry.schema, `${eventType} schema is plain JSON`);
    }
  });

  for (const eventType of deepLensEventTypes) {
    it(`round-trips ${eventType} and the TypeScript type has every schema field`, () => {
      const sample = sampleEvents[eventType];
      const { type } = eventSchemas[eventType];
      const avroValue = toAvro(sample);
      assert.deepEqual(missingFields(type, avroValue, eventType), []);
      const undeclared: string[] = [];
      const valid = type.isValid(avroValue, {
        noUndeclaredFields: true,
        errorHook: (path) => undeclared.push(path.join('.')),
      });
      assert.ok(valid, `${eventType} sample does not match its schema at ${undeclared.join(', ')}`);
      assert.deepStrictEqual(decodeEvent(eventType, encodeEvent(sample)), sample);
    });
  }

  it('gives every nullable field a null default, so it can be added later', () => {
    const offenders: string[] = [];
    const visit = (type: AvroType, path: string): void => {
      if (type.typeName !== 'record') return;
      for (const field of (type as types.RecordType).fields) {
        const fieldPath = `${path}.${field.name}`;
        const nullable =
          field.type.typeName === 'union:unwrapped' &&
          (field.type as types.UnwrappedUnionType).types.some((branch) => branch.typeName === 'null');
        if (nullable && field.defaultValue() !== null) offenders.push(fieldPath);
        visit(field.type, fieldPath);
      }
    };
    for (const entry of registrableSchemas()) visit(entry.type, entry.recordName);
    assert.deepEqual(offenders, []);
  });

  it('registers one subject per record and topic', () => {
    const subjects = registrableSchemas().map((entry) => entry.subject);
    assert.equal(new Set(subjects).size, subjects.length);
    assert.ok(subjects.includes(subjectOf(topics.intake, 'deeplens.intake.IntakeEnvelope')));
    assert.equal(intakeEnvelopeSchema.topic, topics.intake);
  });
});

describe('intake envelope', () => {
  for (const envelope of sampleIntakeEnvelopes) {
    it(`round-trips ${envelope.command.type} and has every schema field`, () => {
      assert.deepStrictEqual(decodeIntakeEnvelope(encodeIntakeEnvelope(envelope)), envelope);
      const avroValue = intakeEnvelopeSchema.type.fromBuffer(encodeIntakeEnvelope(envelope)) as unknown;
      assert.deepEqual(missingFields(intakeEnvelopeSchema.type, avroValue, 'IntakeEnvelope'), []);
    });
  }

  it('signs the value exactly as produced: schema id and Avro body, not the magic byte', () => {
    const value = Buffer.from([0, 0, 0, 1, 7, 42, 43]);
    assert.deepEqual(intakeSigningPayload(value), Buffer.from([0, 0, 1, 7, 42, 43]));
    assert.throws(() => intakeSigningPayload(Buffer.from([1, 0, 0, 1, 7])), /magic byte/);
    assert.throws(() => intakeSigningPayload(Buffer.from([0, 0, 0])), /magic byte/);
  });

  it('is one self-contained schema file that a stock loader reads as it is', () => {
    const file = JSON.parse(
      readFileSync(join(schemasDir, 'intake', 'IntakeEnvelope.avsc'), 'utf8'),
    ) as Record<string, unknown>;
    assert.doesNotThrow(() => avro.Type.forSchema(file as avro.Schema));
    assert.deepEqual(file, intakeEnvelopeSchema.schema, 'what is registered is the file itself');
  });
});

describe('vector bytes', () => {
  it('are float32 little-endian', () => {
    assert.deepEqual(
      [...vectorToBytes(Float32Array.of(1, -2))],
      [0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0],
    );
  });

  it('decode from an unaligned slice', () => {
    const bytes = Buffer.concat([Buffer.from([9]), vectorToBytes(Float32Array.of(0.5, 7))]).subarray(1);
    assert.deepStrictEqual(vectorFromBytes(bytes), Float32Array.of(0.5, 7));
  });

  it('refuse a length that is not a multiple of 4', () => {
    assert.throws(() => vectorFromBytes(Buffer.alloc(6)), /multiple of 4/);
  });
});
