import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Type as AvroType, types } from 'avsc';
import { z } from 'zod';
import { decodeEvent, decodeIntakeEnvelope, encodeEvent, encodeIntakeEnvelope } from './eventCodec.ts';
import { avroTypeOf, eventSchemas, intakeEnvelopeSchema } from './eventSchemas.ts';
import { imageFieldNames, imageFields, imageFieldsOf } from './imageFields.ts';
import { sampleEvents, sampleIntakeEnvelopes } from './testing/sampleEvents.ts';

/** Whether values of the zod type travel as the Avro type (both ways, without loss). */
function fits(zodType: z.ZodTypeAny, avroType: AvroType): boolean {
  if (zodType instanceof z.ZodString || zodType instanceof z.ZodEnum) return avroType.typeName === 'string';
  if (zodType instanceof z.ZodNumber) return ['int', 'long', 'float', 'double'].includes(avroType.typeName);
  if (zodType instanceof z.ZodBoolean) return avroType.typeName === 'boolean';
  if (zodType instanceof z.ZodArray) {
    return (
      avroType.typeName === 'array' &&
      fits(zodType.element as z.ZodTypeAny, (avroType as types.ArrayType).itemsType)
    );
  }
  if (zodType instanceof z.ZodRecord) {
    return (
      avroType.typeName === 'map' &&
      fits(zodType.valueType as z.ZodTypeAny, (avroType as types.MapType).valuesType as AvroType)
    );
  }
  throw new Error(`no Avro counterpart known for ${zodType.constructor.name}`);
}

/**
 * Where an Avro record and the image fields part: names on one side only, or a field whose
 * Avro type does not carry the zod type. `identity` are the record's fields besides the list.
 */
function mismatches(
  record: AvroType,
  fields: z.ZodObject<z.ZodRawShape>,
  identity: readonly string[] = [],
): string[] {
  const avroFields = new Map((record as types.RecordType).fields.map((f) => [f.name, f.type]));
  const shape: z.ZodRawShape = fields.shape;
  const problems: string[] = [];
  for (const [name, zodType] of Object.entries(shape)) {
    const avroType = avroFields.get(name);
    if (!avroType) problems.push(`${name}: not in the Avro record`);
    else if (!fits(zodType as z.ZodTypeAny, avroType))
      problems.push(`${name}: Avro ${avroType.typeName} does not carry it`);
  }
  for (const name of avroFields.keys()) {
    if (!Object.hasOwn(shape, name) && !identity.includes(name)) {
      problems.push(`${name}: in the Avro record only`);
    }
  }
  return problems;
}

const recordField = (record: AvroType, name: string): AvroType => {
  const field = (record as types.RecordType).fields.find((f) => f.name === name);
  assert.ok(field, `the record has a field ${name}`);
  return field.type;
};

const uploadedData = recordField(eventSchemas.ImageUploaded.type, 'data');
const registerImage = (
  recordField(intakeEnvelopeSchema.type, 'command') as types.UnwrappedUnionType
).types.find((t) => t.name === 'deeplens.intake.RegisterImage');

describe('the image field list', () => {
  it("ImageUploaded's Avro data record has exactly the listed fields, each of a type that carries it, besides tenantId and imageId", () => {
    assert.deepEqual(mismatches(uploadedData, imageFields, ['tenantId', 'imageId']), []);
    assert.deepEqual(
      (uploadedData as types.RecordType).fields.map((f) => f.name),
      ['tenantId', 'imageId', ...imageFieldNames],
      'in the same order',
    );
  });

  it("the intake's RegisterImage record has exactly the listed fields but source", () => {
    assert.ok(registerImage, 'the intake envelope has a RegisterImage command');
    assert.deepEqual(mismatches(registerImage, imageFields.omit({ source: true })), []);
  });

  it('tells a field added on one side only, or carried by the wrong type', () => {
    const schema = structuredClone(eventSchemas.ImageUploaded.schema) as {
      fields: { name: string; type: { fields: { name: string; type: unknown }[] } }[];
    };
    const data = schema.fields.find((f) => f.name === 'data')!.type;
    data.fields.push({ name: 'camera', type: 'string' });
    data.fields.find((f) => f.name === 'width')!.type = 'string';
    data.fields = data.fields.filter((f) => f.name !== 'filename');
    const changed = recordField(avroTypeOf(schema), 'data');
    assert.deepEqual(mismatches(changed, imageFields, ['tenantId', 'imageId']).sort(), [
      'camera: in the Avro record only',
      'filename: not in the Avro record',
      'width: Avro string does not carry it',
    ]);
  });

  it('what the wire decodes is a valid value of the list, and imageFieldsOf keeps exactly the list', () => {
    const decoded = decodeEvent('ImageUploaded', encodeEvent(sampleEvents.ImageUploaded));
    const fields = imageFieldsOf(decoded.data);
    assert.deepEqual(imageFields.strict().parse(fields), fields);
    assert.deepEqual(Object.keys(fields), imageFieldNames);
    assert.equal('tenantId' in fields, false);

    const register = sampleIntakeEnvelopes.find((e) => e.command.type === 'RegisterImage');
    assert.ok(register);
    const command = decodeIntakeEnvelope(encodeIntakeEnvelope(register)).command;
    assert.equal(command.type, 'RegisterImage');
    imageFields.omit({ source: true }).strict().parse(command.data);
  });
});
