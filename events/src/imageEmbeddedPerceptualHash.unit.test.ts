import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toAvro } from './avroValues.ts';
import { decodeEvent, encodeEvent } from './eventCodec.ts';
import { avroTypeOf, eventSchemas } from './eventSchemas.ts';
import type { ImageEmbedded } from './imageEvents.ts';
import { sampleEvents } from './testing/sampleEvents.ts';

/** An embedding as written before embedders computed the hash. */
const { perceptualHash: _hash, ...dataWithoutHash } = sampleEvents.ImageEmbedded.data;
const embedded: ImageEmbedded = { ...sampleEvents.ImageEmbedded, data: dataWithoutHash };

describe('ImageEmbedded.perceptualHash (added with a null default)', () => {
  it('travels with the vector', () => {
    const event = { ...embedded, data: { ...embedded.data, perceptualHash: '8f3a00c4e1d2b697' } };
    assert.deepStrictEqual(decodeEvent('ImageEmbedded', encodeEvent(event)), event);
  });

  it('is written as null when the embedder gave none', () => {
    const decoded = decodeEvent('ImageEmbedded', encodeEvent(embedded));
    assert.equal(decoded.data.perceptualHash, null);
    assert.deepStrictEqual(decoded.data.vector, embedded.data.vector);
  });

  it('reads as null from an event written before the field existed (BACKWARD)', () => {
    type EventRecord = { fields: Array<{ name: string; type: { fields: Array<{ name: string }> } }> };
    const before = structuredClone(eventSchemas.ImageEmbedded.schema) as EventRecord;
    const data = before.fields.find((f) => f.name === 'data')!;
    data.type.fields = data.type.fields.filter((f) => f.name !== 'perceptualHash');
    const older = avroTypeOf(before);
    const { perceptualHash: _none, ...oldData } = toAvro(embedded).data;
    const bytes = older.toBuffer({ metadata: embedded.metadata, data: oldData });
    const decoded = decodeEvent('ImageEmbedded', bytes, older);
    assert.equal(decoded.data.perceptualHash, null);
    assert.deepStrictEqual(decoded.data.vector, embedded.data.vector);
    assert.equal(decoded.data.imageId, embedded.data.imageId);
  });
});
