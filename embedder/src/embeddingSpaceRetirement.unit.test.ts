import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConflictError, ValidationError } from '@deeplens/platform/errors';
import { decideRetirement, type RetirementInput } from './embeddingSpaceRetirement.ts';

const v1 = { modelId: 'mobilenet', modelVersion: '1' };
const v2 = { modelId: 'mobilenet', modelVersion: '2-gem3' };
const complete = [
  { tenantId: 'a', active: 10, embedded: 10, missing: 0 },
  { tenantId: 'b', active: 3, embedded: 3, missing: 0 },
];
const input = (over: Partial<RetirementInput> = {}): RetirementInput => ({
  space: v1,
  replacement: v2,
  move: { targetSpace: 'mobilenet@2-gem3', manifestPath: '/m.json', requestedAt: 1 },
  progress: complete,
  retired: new Map(),
  now: 1_700_000_000_000,
  ...over,
});

describe('decideRetirement', () => {
  it('retires a space once every tenant searches the replacement completely', () => {
    const event = decideRetirement(input());
    assert.equal(event?.type, 'EmbeddingSpaceRetired');
    assert.deepEqual(event?.data, {
      modelId: 'mobilenet',
      modelVersion: '1',
      replacedBy: 'mobilenet@2-gem3',
    });
    assert.equal(event?.metadata.tenantId, null);
    assert.equal(event?.metadata.aggregateId, 'embedding-space:mobilenet@1');
    assert.equal(event?.metadata.occurredAt, 1_700_000_000_000);
    // The same decision again gives the same event id (a retried command appends nothing new).
    assert.equal(decideRetirement(input({ now: 5 }))?.metadata.eventId, event?.metadata.eventId);
  });

  it('also without a recorded move, for a named replacement', () => {
    assert.equal(decideRetirement(input({ move: undefined }))?.data.replacedBy, 'mobilenet@2-gem3');
  });

  it('changes nothing for a space already retired', () => {
    assert.equal(
      decideRetirement(input({ retired: new Map([['mobilenet@1', 'mobilenet@2-gem3']]) })),
      undefined,
    );
  });

  it('refuses while a tenant still has images with no vector in the replacement', () => {
    assert.throws(
      () =>
        decideRetirement(
          input({ progress: [...complete, { tenantId: 'c', active: 5, embedded: 4, missing: 2 }] }),
        ),
      (error) =>
        error instanceof ConflictError && /1 tenant\(s\) still have 2 image\(s\)/.test(error.message),
    );
  });

  it("refuses a replacement that is not the recorded move's target, a retired one, or the space itself", () => {
    const v3 = { modelId: 'clip', modelVersion: '1' };
    assert.throws(() => decideRetirement(input({ replacement: v3 })), ConflictError);
    assert.throws(
      () => decideRetirement(input({ retired: new Map([['mobilenet@2-gem3', 'clip@1']]) })),
      ConflictError,
    );
    assert.throws(() => decideRetirement(input({ replacement: v1, move: undefined })), ValidationError);
  });
});
