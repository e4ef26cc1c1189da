import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { decodeImageRgb } from './decodeImageRgb.ts';
import { hammingDistance, isPerceptualHash, perceptualHash } from './perceptualHash.ts';

const photos = join(import.meta.dirname, '..', 'fixtures', 'photos');
const decode = { width: 224, height: 224, resize: 'fill' } as const;
const hashOf = async (bytes: Uint8Array) => perceptualHash(await decodeImageRgb(bytes, decode), 224, 224);

describe('perceptualHash', () => {
  it('writes 64 bits as 16 hex digits, the same for the same pixels', async () => {
    const bytes = await readFile(join(photos, 'chelsea.jpg'));
    const hash = await hashOf(bytes);
    assert.ok(isPerceptualHash(hash), hash);
    assert.equal(await hashOf(bytes), hash);
  });

  it('barely moves under greyscale, blur and a small re-encoded copy; differs between photos', async () => {
    const bytes = await readFile(join(photos, 'coffee.jpg'));
    const hash = await hashOf(bytes);
    for (const edited of [
      await sharp(bytes).greyscale().jpeg().toBuffer(),
      await sharp(bytes).blur(3).jpeg().toBuffer(),
      await sharp(bytes).resize({ width: 120 }).webp({ quality: 25 }).toBuffer(),
    ])
      assert.ok(hammingDistance(hash, await hashOf(edited)) <= 8, 'an edited copy is within 8 bits');
    for (const other of ['chelsea.jpg', 'rocket.jpg', 'astronaut.jpg']) {
      const d = hammingDistance(hash, await hashOf(await readFile(join(photos, other))));
      assert.ok(d >= 20, `another photo (${other}) is ${d} bits away`);
    }
  });

  it('refuses fewer pixels than it is told there are', () => {
    assert.throws(() => perceptualHash(new Uint8Array(10), 4, 4), /needs 4 × 4 RGB pixels/);
  });
});

describe('hammingDistance', () => {
  it('counts the differing bits of both halves', () => {
    assert.equal(hammingDistance('0000000000000000', '0000000000000000'), 0);
    assert.equal(hammingDistance('0000000000000000', 'ffffffffffffffff'), 64);
    assert.equal(hammingDistance('8000000000000001', '0000000000000000'), 2);
    assert.equal(hammingDistance('00000000f0000000', '0000000000000000'), 4);
  });
});
