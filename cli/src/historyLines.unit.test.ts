import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ImageHistoryEvent } from '@deeplens/client/clientTypes';
import { parseCliArguments, UsageError } from './cliArguments.ts';
import { formatHistory } from './historyLines.ts';

const base = {
  eventId: 'e',
  occurredAt: '2026-01-02T03:04:05.000Z',
  correlationId: 'c',
  causationId: null,
  logPosition: 'deeplens.image.v1:0:1',
};

describe('history <imageId> lines', () => {
  it('one line per event: version, time, type, actor, what it said and changed', () => {
    const events: ImageHistoryEvent[] = [
      {
        ...base,
        version: 1,
        type: 'ImageUploaded',
        actor: { kind: 'user', id: 'u-1' },
        changes: { status: { before: null, after: 'uploaded' }, tags: { before: null, after: ['a', 'b'] } },
        details: { filename: 'cat.jpg', mime: 'image/jpeg', width: 4, height: 3, source: 'http' },
      },
      {
        ...base,
        version: 2,
        type: 'ImageMetadataUpdated',
        actor: { kind: 'apiKey', id: 'k-1' },
        changes: { tags: { before: ['a', 'b'], after: ['a'] } },
        details: {},
      },
      {
        ...base,
        version: 3,
        type: 'ImageEmbedded',
        actor: { kind: 'intake', id: null },
        changes: {},
        details: { model: 'm@1', dim: 3 },
      },
    ];
    assert.deepEqual(formatHistory(events), [
      'v1  2026-01-02T03:04:05.000Z  ImageUploaded         user:u-1  cat.jpg (image/jpeg, 4×3, via http); status ∅ → uploaded; tags ∅ → [a, b]',
      'v2  2026-01-02T03:04:05.000Z  ImageMetadataUpdated  apiKey:k-1  tags [a, b] → [a]',
      'v3  2026-01-02T03:04:05.000Z  ImageEmbedded         intake  model m@1, 3 dimensions',
    ]);
  });

  it('parses history <imageId>, refusing what is not an image id', () => {
    const id = '00000000-0000-4000-8000-00000000000a';
    assert.deepEqual(parseCliArguments(['history', id, '--json']).command, { name: 'history', imageId: id });
    assert.throws(() => parseCliArguments(['history', 'nope']), UsageError);
  });
});
