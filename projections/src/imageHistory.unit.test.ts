import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EventMetadata } from '@deeplens/events/event';
import type { ImageEvent } from '@deeplens/events/imageEvents';
import { describeActor, evolveImageHistory, type ImageHistoryState } from './imageHistory.ts';

const tenantId = 't-1';
const imageId = 'i-1';
const meta = (version: number, actor = 'user:u-1'): EventMetadata => ({
  eventId: `e-${version}`,
  aggregateId: imageId,
  aggregateVersion: version,
  tenantId,
  occurredAt: 1_700_000_000_000 + version,
  correlationId: `c-${version}`,
  causationId: null,
  actor,
});

const uploaded: ImageEvent = {
  type: 'ImageUploaded',
  data: {
    tenantId,
    imageId,
    objectKey: 'objects/ab/cd',
    sha256: 'ab'.repeat(32),
    mime: 'image/png',
    bytes: 1234,
    width: 10,
    height: 20,
    filename: 'cat.png',
    tags: ['cat'],
    attributes: { b: '2', a: '1' },
    source: 'http',
  },
  metadata: meta(1),
};
const embedded = (version: number, modelVersion: string): ImageEvent => ({
  type: 'ImageEmbedded',
  data: {
    tenantId,
    imageId,
    modelId: 'm',
    modelVersion,
    dim: 3,
    vector: new Float32Array([1, 0, 0]),
    perceptualHash: '0123456789abcdef',
  },
  metadata: meta(version, 'system:embedder'),
});

/** Folds events as the projection does; answers the entries. */
function fold(events: ImageEvent[], state?: ImageHistoryState) {
  const entries = [];
  for (const event of events) {
    const next = evolveImageHistory(state, event);
    if (!next) continue;
    entries.push(next.entry);
    state = next.state;
  }
  return { entries, state };
}

describe('an image history entry per event', () => {
  it('says what each event changed, in order, and never carries the vector or the object key', () => {
    const { entries } = fold([
      uploaded,
      embedded(2, '1'),
      {
        type: 'ImageMetadataUpdated',
        data: { tenantId, imageId, tags: ['cat', 'pet'], attributes: { a: '1', b: '2' } },
        metadata: meta(3),
      },
      embedded(4, '2'),
      {
        type: 'ImageDeleted',
        data: { tenantId, imageId, objectKey: 'objects/ab/cd', sha256: 'ab'.repeat(32), bytes: 1234 },
        metadata: meta(5, 'apikey:k-1'),
      },
    ]);
    assert.deepEqual(
      entries.map((e) => [e.version, e.type, e.actor, e.correlationId]),
      [
        [1, 'ImageUploaded', 'user:u-1', 'c-1'],
        [2, 'ImageEmbedded', 'system:embedder', 'c-2'],
        [3, 'ImageMetadataUpdated', 'user:u-1', 'c-3'],
        [4, 'ImageEmbedded', 'system:embedder', 'c-4'],
        [5, 'ImageDeleted', 'apikey:k-1', 'c-5'],
      ],
    );
    assert.deepEqual(entries[0]!.changes, {
      status: { before: null, after: 'uploaded' },
      tags: { before: null, after: ['cat'] },
      attributes: { before: null, after: { a: '1', b: '2' } },
    });
    assert.equal((entries[0]!.details as { filename: string }).filename, 'cat.png');
    assert.deepEqual(entries[1]!.changes, { status: { before: 'uploaded', after: 'embedded' } });
    assert.deepEqual(entries[1]!.details, { model: 'm@1', dim: 3, perceptualHash: '0123456789abcdef' });
    // Only the tags changed: the same attributes in another key order are no change.
    assert.deepEqual(entries[2]!.changes, { tags: { before: ['cat'], after: ['cat', 'pet'] } });
    // A re-embedding by a new model version: no status change, the new model named.
    assert.deepEqual(entries[3]!.changes, {});
    assert.equal((entries[3]!.details as { model: string }).model, 'm@2');
    assert.deepEqual(entries[4]!.changes, { status: { before: 'embedded', after: 'deleted' } });
    assert.deepEqual(entries[4]!.details, { bytes: 1234 });
    const json = JSON.stringify(entries);
    assert.ok(!json.includes('objects/ab/cd'), 'no object key');
    assert.ok(!json.includes('vector'), 'no vector');
  });

  it('re-applying an event the state already holds adds nothing', () => {
    const first = fold([uploaded, embedded(2, '1')]);
    const again = fold([uploaded, embedded(2, '1')], first.state);
    assert.deepEqual(again.entries, []);
    assert.deepEqual(again.state, first.state);
  });

  it('a failure after an embedding keeps the image embedded; before it, the image is failed', () => {
    const failed = (version: number): ImageEvent => ({
      type: 'ImageEmbeddingFailed',
      data: { tenantId, imageId, modelId: 'm', modelVersion: '9', reason: 'undecodable', retriable: false },
      metadata: meta(version, 'system:embedder'),
    });
    assert.deepEqual(fold([uploaded, failed(2)]).entries[1]!.changes, {
      status: { before: 'uploaded', after: 'failed' },
    });
    assert.deepEqual(fold([uploaded, embedded(2, '1'), failed(3)]).entries[2]!.changes, {});
  });

  it('an event whose upload was never seen is recorded with unknown before-values', () => {
    const { entries } = fold([embedded(2, '1')]);
    assert.deepEqual(entries[0]!.changes, { status: { before: null, after: 'embedded' } });
  });
});

describe('the actor of an event, for the API', () => {
  it('names users, API keys, intake keys and our own processes', () => {
    assert.deepEqual(describeActor('user:u-1'), { kind: 'user', id: 'u-1' });
    assert.deepEqual(describeActor('apikey:k-1'), { kind: 'apiKey', id: 'k-1' });
    assert.deepEqual(describeActor('system:intake-key:ik-1'), { kind: 'intake', id: 'ik-1' });
    assert.deepEqual(describeActor('system:intake'), { kind: 'intake', id: null });
    assert.deepEqual(describeActor('system:embedder'), { kind: 'system', id: 'embedder' });
    assert.deepEqual(describeActor('something-else'), { kind: 'system', id: 'something-else' });
  });
});
