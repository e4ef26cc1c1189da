import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createLogger } from '@deeplens/platform/logger';
import { UnprocessableImageError } from '../imageErrors.ts';
import { decodeFetched, rejectionReason } from './decodeFetched.ts';

const photo = (name: string) => readFile(join(import.meta.dirname, '..', '..', 'fixtures', 'photos', name));
const options = {
  decodeOptions: { width: 224, height: 224, resize: 'fill' as const },
  thumbnailSize: 128,
  log: createLogger({ test: 'decodeFetched' }, 'error'),
  imageId: 'i',
};

describe('decode stage', () => {
  it('decodes an upload once: the model’s pixels, a thumbnail that fits, its hash and local features', async () => {
    const decoded = await decodeFetched(await photo('coffee.jpg'), options);
    assert.equal(decoded.outcome, 'decoded');
    if (decoded.outcome !== 'decoded') return;
    assert.equal(decoded.upload.pixels.length, 224 * 224 * 3);
    assert.ok(decoded.upload.thumbnail.width <= 128 && decoded.upload.thumbnail.height <= 128);
    assert.match(decoded.upload.perceptualHash, /^[0-9a-f]{16}$/);
    assert.ok(decoded.localFeatures && decoded.localFeatures.length > 0, 'local features found');
  });

  it('answers failed with the reason for a corrupt image and for bytes that are no image, never throws', async () => {
    const bytes = Buffer.from(await photo('coffee.jpg'));
    bytes.fill(0xff, Math.floor(bytes.length / 2), Math.floor(bytes.length / 2) + 400);
    const corrupt = await decodeFetched(bytes, options);
    assert.equal(corrupt.outcome, 'failed');
    assert.match(corrupt.outcome === 'failed' ? corrupt.reason : '', /^(corrupt|truncated): /);

    const text = await decodeFetched(Buffer.from('not an image at all'), options);
    assert.equal(text.outcome, 'failed');
    assert.match(text.outcome === 'failed' ? text.reason : '', /^unsupported_format: /);

    const empty = await decodeFetched(Buffer.alloc(0), options);
    assert.equal(empty.outcome, 'failed');
  });

  it('names the reason of an image refusal, else the error’s message', () => {
    assert.equal(
      rejectionReason(new UnprocessableImageError('truncated', 'the file ends early')),
      'truncated: the file ends early',
    );
    assert.equal(rejectionReason(new Error('sharp broke')), 'sharp broke');
    assert.equal(rejectionReason('odd'), 'odd');
  });
});
