import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { decodeForSearch } from './decodeUpload.ts';
import {
  decodeLocalFeatures,
  extractLocalFeatures,
  LOCAL_FEATURE_COUNT,
  LOCAL_FEATURE_SIZE,
  verifyGeometry,
} from './localFeatures.ts';
import { defaultVerificationRanking } from './nearDuplicateRanking.ts';

const photo = (name: string) => readFile(join(import.meta.dirname, '..', 'fixtures', 'photos', name));
const model = { width: 224, height: 224, resize: 'fill' as const };

async function featuresOf(bytes: Uint8Array) {
  const { grey } = await decodeForSearch(bytes, model);
  assert.ok(grey, 'a greyscale copy');
  const blob = await extractLocalFeatures(grey.data, grey.width, grey.height);
  const features = decodeLocalFeatures(blob);
  assert.ok(features, 'the blob decodes');
  return { blob, features, grey };
}

describe('local features', () => {
  it('finds up to 500 ORB keypoints on a copy no larger than 512 px, in a blob of about 18 KiB', async () => {
    const { blob, features, grey } = await featuresOf(await photo('coffee.jpg'));
    assert.ok(Math.max(grey.width, grey.height) <= LOCAL_FEATURE_SIZE);
    assert.ok(features.count > 300 && features.count <= LOCAL_FEATURE_COUNT, `${features.count} keypoints`);
    assert.equal(blob.length, 8 + features.count * 36);
    assert.deepEqual([features.width, features.height], [grey.width, grey.height]);
    for (let i = 0; i < features.count; i++) {
      assert.ok(features.points[2 * i]! >= 0 && features.points[2 * i]! <= grey.width);
      assert.ok(features.points[2 * i + 1]! >= 0 && features.points[2 * i + 1]! <= grey.height);
    }
  });

  it('verifies an off-centre crop and a watermarked copy of the same photo, and not another photo', async () => {
    const original = await photo('chelsea.jpg');
    const { width, height } = await sharp(original).metadata();
    const crop = await sharp(original)
      .extract({
        left: 0,
        top: Math.round(height * 0.3),
        width: Math.round(width * 0.6),
        height: Math.round(height * 0.6),
      })
      .jpeg({ quality: 85 })
      .toBuffer();
    const text = Buffer.from(
      `<svg width="${width}" height="${height}"><text x="20" y="${height / 2}" font-size="${height / 6}" fill="white" fill-opacity="0.5">© DeepLens</text></svg>`,
    );
    const watermarked = await sharp(original)
      .composite([{ input: text }])
      .jpeg({ quality: 85 })
      .toBuffer();
    const stored = (await featuresOf(original)).features;
    const other = (await featuresOf(await photo('coffee.jpg'))).features;
    const n = defaultVerificationRanking.minInliers;
    for (const [what, bytes] of [
      ['off-centre crop', crop],
      ['watermark', watermarked],
    ] as const) {
      const query = (await featuresOf(bytes)).features;
      const same = verifyGeometry(query, stored);
      const different = verifyGeometry(query, other);
      assert.ok(same >= n, `${what}: ${same} inliers with its original`);
      assert.ok(different < n, `${what}: ${different} inliers with another photo`);
    }
  });

  it('gives a flat picture no keypoints, which verifies nothing', async () => {
    const flat = await sharp({ create: { width: 400, height: 300, channels: 3, background: '#3366aa' } })
      .png()
      .toBuffer();
    const { features } = await featuresOf(flat);
    assert.equal(features.count, 0);
    assert.equal(verifyGeometry(features, features), 0);
  });

  it('answers the same inlier count every time (deterministic RANSAC)', async () => {
    const a = (await featuresOf(await photo('rocket.jpg'))).features;
    const b = (
      await featuresOf(
        await sharp(await photo('rocket.jpg'))
          .rotate(7, { background: '#000' })
          .jpeg()
          .toBuffer(),
      )
    ).features;
    const first = verifyGeometry(b, a);
    assert.ok(first >= defaultVerificationRanking.minInliers, `${first} inliers after a 7° rotation`);
    assert.equal(verifyGeometry(b, a), first);
  });

  it('refuses a blob it did not write', () => {
    assert.equal(decodeLocalFeatures(null), null);
    assert.equal(decodeLocalFeatures(Buffer.from([9, 0, 0, 0, 0, 0, 0, 0])), null);
    assert.equal(
      decodeLocalFeatures(Buffer.from([1, 0, 5, 0, 10, 0, 10, 0])),
      null,
      'count says 5, no keypoints follow',
    );
  });
});
