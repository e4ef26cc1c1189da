import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import type { DecodeImageOptions } from './decodeImageRgb.ts';
import { decodeImageRgb } from './decodeImageRgb.ts';
import { decodeUpload, sharedScale } from './decodeUpload.ts';
import { isImageRejectedError } from './imageErrors.ts';

const photo = (name: string) => readFile(join(import.meta.dirname, '..', 'fixtures', 'photos', name));
const model: DecodeImageOptions = { width: 224, height: 224, resize: 'fill' };

/** Mean and largest absolute difference of two equally long byte arrays. */
function difference(a: Uint8Array, b: Uint8Array): { mean: number; max: number } {
  assert.equal(a.length, b.length);
  let sum = 0;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    sum += d;
    max = Math.max(max, d);
  }
  return { mean: sum / a.length, max };
}

describe('decodeUpload', () => {
  it('gives the model the pixels decodeImageRgb gives it, and a WebP thumbnail that fits', async () => {
    for (const resize of ['fill', 'cover'] as const) {
      const bytes = await sharp(await photo('chelsea.jpg'))
        .resize(640, 480, { fit: 'fill' })
        .jpeg()
        .toBuffer();
      const options = { ...model, resize, thumbnailSize: 256 };
      const { pixels, thumbnail } = await decodeUpload(bytes, options);
      const expected = await decodeImageRgb(bytes, options);
      // A photo this small is decoded at full size either way: the very same pixels.
      assert.deepEqual(difference(pixels, expected), { mean: 0, max: 0 }, resize);
      assert.deepEqual([thumbnail.width, thumbnail.height, thumbnail.mime], [256, 192, 'image/webp']);
      const stored = await sharp(thumbnail.data).metadata();
      assert.deepEqual([stored.format, stored.width, stored.height], ['webp', 256, 192]);
    }
  });

  it('shrinks a large photo while loading, with pixels close to decodeImageRgb', async () => {
    const large = await sharp(await photo('coffee.jpg'))
      .resize(3200, 2400, { fit: 'fill' })
      .jpeg({ quality: 90 })
      .toBuffer();
    const options = { ...model, thumbnailSize: 256 };
    assert.ok(sharedScale({ width: 3200, height: 2400 }, options) <= 1 / 3);
    const { pixels, thumbnail } = await decodeUpload(large, options);
    const { mean } = difference(pixels, await decodeImageRgb(large, options));
    assert.ok(mean < 1, `mean difference ${mean}`);
    assert.deepEqual([thumbnail.width, thumbnail.height], [256, 192]);
  });

  it('never enlarges a small image for its thumbnail', async () => {
    const small = await sharp(await photo('rocket.jpg'))
      .resize(120, 90, { fit: 'fill' })
      .png()
      .toBuffer();
    const { pixels, thumbnail } = await decodeUpload(small, { ...model, thumbnailSize: 256 });
    assert.equal(pixels.length, 224 * 224 * 3);
    assert.deepEqual([thumbnail.width, thumbnail.height], [120, 90]);
  });

  it('turns the image upright by its EXIF orientation, for the model and the thumbnail', async () => {
    const upright = await sharp(await photo('chelsea.jpg'))
      .resize(480, 320, { fit: 'fill' })
      .jpeg()
      .toBuffer();
    const sideways = await sharp(upright)
      .rotate(-90)
      .withMetadata({ orientation: 6 })
      .jpeg({ quality: 95 })
      .toBuffer();
    const options = { ...model, thumbnailSize: 128 };
    const [u, s] = await Promise.all([decodeUpload(upright, options), decodeUpload(sideways, options)]);
    assert.deepEqual([s.thumbnail.width, s.thumbnail.height], [128, 85]);
    assert.ok(difference(u.pixels, s.pixels).mean < 4);
  });

  it('keeps transparency in the thumbnail and flattens it onto white for the model', async () => {
    const rgba = await sharp({
      create: { width: 300, height: 200, channels: 4, background: { r: 200, g: 0, b: 0, alpha: 0 } },
    })
      .png()
      .toBuffer();
    const { pixels, thumbnail } = await decodeUpload(rgba, { ...model, thumbnailSize: 64 });
    assert.ok(
      pixels.every((v) => v === 255),
      'transparent reads as white',
    );
    assert.equal((await sharp(thumbnail.data).metadata()).hasAlpha, true);
  });

  it('refuses what decodeImageRgb refuses, with the same reason', async () => {
    const jpeg = await photo('coffee.jpg');
    const damaged = Buffer.from(jpeg);
    damaged.fill(0xff, Math.floor(jpeg.length / 2), Math.floor(jpeg.length / 2) + 400);
    const cases: [string, Uint8Array][] = [
      ['empty', new Uint8Array(0)],
      ['text', Buffer.from('name,score\nchelsea,1\n'.repeat(20))],
      ['truncated', jpeg.subarray(0, Math.floor(jpeg.length / 2))],
      ['damaged', damaged],
    ];
    for (const [what, bytes] of cases) {
      const expected = await decodeImageRgb(bytes, model).then(
        () => assert.fail(`${what}: decodeImageRgb accepted it`),
        (error: unknown) => error,
      );
      assert.ok(isImageRejectedError(expected), what);
      await assert.rejects(
        decodeUpload(bytes, { ...model, thumbnailSize: 256 }),
        (error: unknown) => {
          assert.ok(isImageRejectedError(error), `${what}: ${String(error)}`);
          assert.equal(error.reason, expected.reason, what);
          return true;
        },
        what,
      );
    }
  });
});
