import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileRecordReader } from './avroRecordReader.ts';
import { fromAvro } from './avroValues.ts';
import { deepLensEventTypes, type DeepLensEvent } from './domainEvent.ts';
import { decodeEvent, encodeEvent } from './eventCodec.ts';
import { avroTypeOf, eventSchemas } from './eventSchemas.ts';
import { sampleEvents, sampleMetadata } from './testing/sampleEvents.ts';

/** The value avsc alone makes of a record (the slow path). */
function avscDecode(event: DeepLensEvent): DeepLensEvent {
  return fromAvro(event.type, eventSchemas[event.type].type.fromBuffer(encodeEvent(event)));
}

const embedded = (vector: Float32Array, tenantId: string | null = 't'): DeepLensEvent => ({
  type: 'ImageEmbedded',
  data: { tenantId: 't', imageId: 'i', modelId: 'm', modelVersion: '1', dim: vector.length, vector },
  metadata: { ...sampleMetadata('i', 2 ** 40), tenantId, occurredAt: Date.UTC(2025, 0, 1) },
});

describe('compiled Avro record readers (the decode fast path)', () => {
  it('read ImageEmbedded as avsc does, for records written with the same schema', () => {
    const vector = Float32Array.from({ length: 1792 }, (_, i) => Math.sin(i) * 1e3);
    for (const event of [sampleEvents.ImageEmbedded, embedded(vector), embedded(vector, null)]) {
      const fast = decodeEvent('ImageEmbedded', encodeEvent(event));
      assert.deepEqual(fast, avscDecode(event));
      assert.ok(fast.data.vector instanceof Float32Array);
    }
    // The writer schema as the registry hands it back: a different avsc type, the same schema.
    const writer = avroTypeOf(
      JSON.parse(JSON.stringify(eventSchemas.ImageEmbedded.schema)) as Record<string, unknown>,
    );
    const event = embedded(vector);
    assert.deepEqual(decodeEvent('ImageEmbedded', encodeEvent(event), writer), avscDecode(event));
  });

  it('read every event type it can compile exactly as avsc does', () => {
    for (const type of deepLensEventTypes) {
      const reader = compileRecordReader(eventSchemas[type].type, ['data.vector']);
      if (!reader) continue;
      const event = sampleEvents[type];
      const { metadata, data } = reader(encodeEvent(event)) as {
        metadata: unknown;
        data: Record<string, unknown>;
      };
      // `fromAvro` drops an empty seal of personal data (`personalData.ts`); a raw reader keeps it.
      if (data.personalData === null) delete data.personalData;
      assert.deepEqual({ type, data, metadata }, avscDecode(event), type);
    }
    assert.ok(compileRecordReader(eventSchemas.ImageEmbedded.type, ['data.vector']));
  });

  it('refuses truncated records, trailing bytes and a vector of a byte count not a multiple of 4', () => {
    const bytes = encodeEvent(embedded(Float32Array.of(1, 2, 3)));
    assert.throws(() => decodeEvent('ImageEmbedded', bytes.subarray(0, bytes.length - 1)), /truncated/);
    assert.throws(() => decodeEvent('ImageEmbedded', Buffer.concat([bytes, Buffer.of(0)])), /trailing/);
    const odd = eventSchemas.ImageEmbedded.type.toBuffer({
      metadata: sampleEvents.ImageEmbedded.metadata,
      data: { ...sampleEvents.ImageEmbedded.data, vector: Buffer.alloc(6) },
    });
    assert.throws(() => decodeEvent('ImageEmbedded', odd), /multiple of 4/);
  });
});
