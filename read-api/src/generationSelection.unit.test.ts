import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ValidationError } from '@deeplens/platform/errors';
import { parseGenerationHeader } from './generationSelection.ts';

describe('parseGenerationHeader', () => {
  it('takes projection:generation pairs or one bare generation', () => {
    assert.deepEqual(parseGenerationHeader('metadata:7, vectors:4'), [
      { projection: 'metadata', generation: 7 },
      { projection: 'vectors', generation: 4 },
    ]);
    assert.deepEqual(parseGenerationHeader('12'), [{ projection: undefined, generation: 12 }]);
  });

  it('refuses unknown projections, repeats, mixes and junk', () => {
    for (const bad of [
      '',
      'history:1',
      'metadata:0',
      'metadata:1,metadata:2',
      '3, metadata:1',
      'x'.repeat(100),
      'metadata:-1',
    ]) {
      assert.throws(() => parseGenerationHeader(bad), ValidationError, bad);
    }
  });

  it('says what is wrong in the 400 detail', () => {
    for (const [bad, detail] of [
      ['', 'DeepLens-Generation takes <projection>:<generation>, … or one generation number'],
      ['1,2,3,4', 'DeepLens-Generation takes <projection>:<generation>, … or one generation number'],
      [
        'history:1',
        "DeepLens-Generation: 'history:1' is not <projection>:<generation> (projections: metadata, usage, vectors)",
      ],
      ['3, metadata:1', 'DeepLens-Generation: a bare generation number stands alone'],
      ['metadata:1,metadata:2', 'DeepLens-Generation names a projection twice'],
    ] as const) {
      assert.throws(() => parseGenerationHeader(bad), { name: ValidationError.name, message: detail }, bad);
    }
  });
});
