import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toAvro } from './avroValues.ts';
import { decodeEvent } from './eventCodec.ts';
import { avroTypeOf, eventSchemas, type AvroSchema } from './eventSchemas.ts';
import { sampleEvents } from './testing/sampleEvents.ts';

/** `schema` (an event's) with the `data` record's fields changed by `change`. */
function withDataFields(
  schema: AvroSchema,
  change: (fields: Array<Record<string, unknown>>) => Array<Record<string, unknown>>,
): AvroSchema {
  type EventRecord = { fields: Array<{ name: string; type: { fields: Array<Record<string, unknown>> } }> };
  const copy = structuredClone(schema) as EventRecord;
  const data = copy.fields.find((field) => field.name === 'data');
  assert.ok(data);
  data.type.fields = change(data.type.fields);
  return copy;
}

describe('schema evolution (BACKWARD: a new reader reads old events)', () => {
  const v1 = eventSchemas.TenantSuspended;
  const oldEvent = sampleEvents.TenantSuspended;
  const oldBytes = v1.type.toBuffer(toAvro(oldEvent));

  it('an event written with v1 decodes with a v2 that adds a field with a default', () => {
    const v2 = avroTypeOf(
      withDataFields(v1.schema, (fields) => [
        ...fields,
        { name: 'suspendedUntil', type: ['null', 'long'], default: null },
        { name: 'notifyOwner', type: 'boolean', default: true },
      ]),
    );
    const decoded = v2.fromBuffer(oldBytes, v2.createResolver(v1.type)) as { data: unknown };
    assert.deepEqual(
      { ...(decoded.data as object) },
      { ...oldEvent.data, suspendedUntil: null, notifyOwner: true },
    );
  });

  it('a v2 that adds a field without a default cannot read v1 data', () => {
    const v2 = avroTypeOf(
      withDataFields(v1.schema, (fields) => [...fields, { name: 'suspendedUntil', type: 'long' }]),
    );
    assert.throws(() => v2.createResolver(v1.type), /default-less/);
  });

  it("decodeEvent reads an old writer's bytes with today's schema", () => {
    const today = eventSchemas.ImageUploaded;
    const defaulted = new Set(['tags', 'attributes', 'source']);
    const before = avroTypeOf(
      withDataFields(today.schema, (fields) => fields.filter((f) => !defaulted.has(f.name as string))),
    );
    const {
      tags: _tags,
      attributes: _attributes,
      source: _source,
      ...older
    } = sampleEvents.ImageUploaded.data;
    const bytes = before.toBuffer({ metadata: sampleEvents.ImageUploaded.metadata, data: older });
    assert.deepStrictEqual(decodeEvent('ImageUploaded', bytes, before), {
      ...sampleEvents.ImageUploaded,
      data: { ...older, tags: [], attributes: {}, source: 'http' },
    });
  });
});
