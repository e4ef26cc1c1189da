import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { buildDefaultModel } from './buildDefaultModel.ts';
import { decodeUpload } from './decodeUpload.ts';
import { UnprocessableImageError, UnsupportedImageError, isImageRejectedError } from './imageErrors.ts';
import { descriptorSpaceSuffix, type ModelManifest, parseModelManifest } from './modelManifest.ts';
import { applyWhitening, decodeWhitening } from './poolingWhitening.ts';
import type { EmbeddingModel } from './onnxEmbeddingModel.ts';
import { loadEmbeddingModel } from './onnxEmbeddingModel.ts';

const photos = join(import.meta.dirname, '..', 'fixtures', 'photos');
const photo = (name: string) => readFile(join(photos, name));

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += a[i]! * b[i]!;
  return dot;
}

/** A copy with bytes [from, to) overwritten by a pattern. */
function damage(bytes: Uint8Array, from: number, to: number): Buffer {
  const copy = Buffer.from(bytes);
  for (let i = from; i < to; i++) copy[i] = (i * 31) & 0xff;
  return copy;
}

function norm(v: Float32Array): number {
  return Math.sqrt(cosine(v, v));
}

describe('loadEmbeddingModel', () => {
  /** The default model: descriptor v2 (GeM + learned whitening, 512-d). */
  let manifest: ModelManifest;
  /** The backbone as it is: the v1 space (average pooling, 1792-d). */
  let backbone: ModelManifest;
  let model: EmbeddingModel;

  before(async () => {
    ({ manifest, backbone } = await buildDefaultModel());
    model = await loadEmbeddingModel(manifest, { intraOpThreads: 1 });
  });
  after(() => model.close());

  it('returns one unit-length 512-d vector per image (descriptor v2), the same alone or batched', async () => {
    const images = await Promise.all(['chelsea.jpg', 'camera.jpg', 'rocket.jpg'].map(photo));
    const batched = await model.embed(images);
    assert.equal(batched.length, 3);
    assert.equal(model.dimension, 512);
    for (const v of batched) {
      assert.equal(v.length, 512);
      assert.ok(Math.abs(norm(v) - 1) < 1e-5);
    }
    const [alone] = await model.embed([images[1]!]);
    assert.ok(cosine(alone!, batched[1]!) > 0.99999);
    assert.ok(cosine(batched[0]!, batched[2]!) < 0.9, 'different photos are not near-identical');
    assert.deepEqual(await model.embed([]), []);
    const whiteningHash = manifest.whitening!.sha256.slice(0, 12);
    assert.equal(manifest.modelVersion, `${backbone.modelVersion}-gem3-w${whiteningHash}-512`);
    assert.equal(
      model.embeddingSpace,
      `mobilenet_v2_140_nsfwjs_mid@${manifest.modelVersion}/gem3+w${whiteningHash}`,
    );
  });

  it('still loads the v1 space (the backbone manifest, as EMBEDDER_MODEL_MANIFEST names it): 1792-d average', async () => {
    const { backboneManifestPath } = await buildDefaultModel();
    const { loadModelManifest } = await import('./modelManifest.ts');
    const v1 = await loadEmbeddingModel(await loadModelManifest(backboneManifestPath), { intraOpThreads: 1 });
    try {
      const [v] = await v1.embed([await photo('chelsea.jpg')]);
      assert.equal(v!.length, 1792);
      assert.equal(v1.dimension, 1792);
      assert.ok(Math.abs(norm(v!) - 1) < 1e-5);
      assert.equal(v1.manifest.modelVersion, backbone.modelVersion);
      assert.equal(v1.embeddingSpace, `mobilenet_v2_140_nsfwjs_mid@${backbone.modelVersion}/avg`);
      assert.notEqual(
        v1.manifest.modelVersion,
        model.manifest.modelVersion,
        'v1 and v2 never share an identity',
      );
    } finally {
      await v1.close();
    }
  });

  it('splits large calls into batches of maxBatchSize', async () => {
    const small = await loadEmbeddingModel(manifest, { maxBatchSize: 2 });
    try {
      const images = await Promise.all(['chelsea.jpg', 'camera.jpg', 'rocket.jpg'].map(photo));
      const [one, , three] = await small.embed(images);
      const [expectedOne, , expectedThree] = await model.embed(images);
      assert.ok(cosine(one!, expectedOne!) > 0.99999 && cosine(three!, expectedThree!) > 0.99999);
    } finally {
      await small.close();
    }
  });

  it('embeds pixels decoded once for the model and the thumbnail as it embeds the bytes', async () => {
    const images = await Promise.all(['chelsea.jpg', 'camera.jpg', 'rocket.jpg', 'coffee.jpg'].map(photo));
    const decoded = await Promise.all(
      images.map((bytes) => decodeUpload(bytes, { ...model.decodeOptions, thumbnailSize: 256 })),
    );
    const fromPixels = await model.embedDecoded(decoded.map((d) => d.pixels));
    const fromBytes = await model.embed(images);
    fromPixels.forEach((v, i) => {
      const similarity = cosine(v, fromBytes[i]!);
      assert.ok(similarity > 0.9999, `image ${i}: cos ${similarity}`);
    });
    await assert.rejects(model.embedDecoded([Buffer.alloc(10)]), /10 bytes/);
  });

  it('descriptor v2 is GeM over the feature map, unit length, then the whitening file, unit length', async () => {
    const gemSpace = { ...backbone, pooling: 'gem' as const, gemP: 3 };
    const gem = await loadEmbeddingModel(
      parseModelManifest({
        ...gemSpace,
        modelVersion: `${backbone.modelVersion}-${descriptorSpaceSuffix(gemSpace)}`,
      }),
      { intraOpThreads: 1 },
    );
    const average = await loadEmbeddingModel(backbone, { intraOpThreads: 1 });
    try {
      const image = await photo('coffee.jpg');
      const [g] = await gem.embed([image]);
      const [a] = await average.embed([image]);
      const [v2] = await model.embed([image]);
      assert.equal(g!.length, 1792);
      assert.ok(Math.abs(norm(g!) - 1) < 1e-5);
      const similarity = cosine(g!, a!);
      assert.ok(similarity > 0.8 && similarity < 0.9999, `GeM differs from the average (cos ${similarity})`);
      assert.equal(gem.embeddingSpace, `mobilenet_v2_140_nsfwjs_mid@${backbone.modelVersion}-gem3-1792/gem3`);
      const whitened = applyWhitening(decodeWhitening(await readFile(manifest.whitening!.file)), g!);
      assert.ok(cosine(whitened, v2!) > 0.99999, 'the model applies exactly GeM + the whitening');
    } finally {
      await gem.close();
      await average.close();
    }
  });

  it('applies the EXIF orientation', async () => {
    const upright = await photo('chelsea.jpg');
    // Stored rotated by 90°, with EXIF orientation 6 telling viewers to turn it back.
    const sideways = await sharp(upright)
      .rotate(-90)
      .withMetadata({ orientation: 6 })
      .jpeg({ quality: 95 })
      .toBuffer();
    const [u, s] = await model.embed([upright, sideways]);
    assert.ok(cosine(u!, s!) > 0.99, `EXIF-rotated copy (cos ${cosine(u!, s!)})`);
  });

  it('flattens transparent pixels onto white', async () => {
    const { data: rgb, info } = await sharp(await photo('chelsea.jpg'))
      .raw()
      .toBuffer({ resolveWithObject: true });
    const { width, height } = info;
    const rgba = Buffer.alloc(width * height * 4);
    const onWhite = Buffer.alloc(width * height * 3);
    for (let p = 0; p < width * height; p++) {
      const transparent = p % width < width / 2;
      for (let c = 0; c < 3; c++) {
        rgba[p * 4 + c] = transparent ? 0 : rgb[p * 3 + c]!;
        onWhite[p * 3 + c] = transparent ? 255 : rgb[p * 3 + c]!;
      }
      rgba[p * 4 + 3] = transparent ? 0 : 255;
    }
    const [a, w] = await model.embed([
      await sharp(rgba, { raw: { width, height, channels: 4 } })
        .png()
        .toBuffer(),
      await sharp(onWhite, { raw: { width, height, channels: 3 } })
        .png()
        .toBuffer(),
    ]);
    assert.ok(cosine(a!, w!) > 0.999, `transparent half reads as white (cos ${cosine(a!, w!)})`);
  });

  it('rejects bytes that are not a supported image with a reason, never a crash', async () => {
    const jpeg = await photo('coffee.jpg');
    const cases: [string, Uint8Array, new (...args: never[]) => Error, string][] = [
      [
        'text file',
        Buffer.from('name,score\nchelsea,1\n'.repeat(20)),
        UnsupportedImageError,
        'unsupported_format',
      ],
      [
        'random bytes',
        Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256),
        UnsupportedImageError,
        'unsupported_format',
      ],
      [
        'SVG',
        Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>'),
        UnsupportedImageError,
        'unsupported_format',
      ],
      ['empty upload', new Uint8Array(0), UnprocessableImageError, 'empty'],
      ['truncated JPEG', jpeg.subarray(0, Math.floor(jpeg.length / 2)), UnprocessableImageError, 'truncated'],
      ['JPEG with a damaged header', damage(jpeg, 20, 200), UnprocessableImageError, 'corrupt'],
      ['JPEG with damaged scan data', damage(jpeg, 2000, 6000), UnprocessableImageError, 'corrupt'],
      [
        'PNG with damaged pixel data',
        damage(await sharp(jpeg).png().toBuffer(), 100, 400),
        UnprocessableImageError,
        'corrupt',
      ],
    ];
    for (const [what, bytes, errorClass, reason] of cases) {
      await assert.rejects(
        model.embed([bytes]),
        (error: unknown) => {
          assert.ok(error instanceof errorClass, `${what}: ${String(error)}`);
          assert.ok(isImageRejectedError(error));
          assert.equal(error.reason, reason, what);
          assert.equal(error.detail?.reason, reason);
          return true;
        },
        what,
      );
    }
  });

  it('says which image of a batch was rejected', async () => {
    const good = await photo('coffee.jpg');
    await assert.rejects(model.embed([good, good, Buffer.from('not an image')]), (error: unknown) => {
      assert.ok(error instanceof UnsupportedImageError);
      assert.equal(error.status, 415);
      assert.equal(error.detail?.index, 2);
      return true;
    });
  });

  it('refuses decompression bombs before decoding them', async () => {
    const strict = await loadEmbeddingModel(manifest, { maxInputPixels: 100_000 });
    try {
      // A flat 1500 × 1500 PNG is a few kB that would decode to 2.25 megapixels.
      const bomb = await sharp({ create: { width: 1500, height: 1500, channels: 3, background: '#777' } })
        .png({ compressionLevel: 9 })
        .toBuffer();
      await assert.rejects(strict.embed([bomb]), (error: unknown) => {
        assert.ok(error instanceof UnprocessableImageError);
        assert.equal(error.reason, 'too_many_pixels');
        assert.equal(error.status, 422);
        return true;
      });
    } finally {
      await strict.close();
    }
  });

  it('refuses a model file whose hash differs from its manifest', async () => {
    await assert.rejects(loadEmbeddingModel({ ...manifest, sha256: '0'.repeat(64) }), /sha256/);
    await assert.rejects(loadEmbeddingModel({ ...manifest, featureMapOutput: undefined }), /GeM/);
  });

  it('refuses to start with a whitening file whose hash differs from its manifest', async () => {
    const other = 'f'.repeat(64);
    await assert.rejects(
      loadEmbeddingModel({ ...manifest, whitening: { ...manifest.whitening!, sha256: other } }),
      (error: unknown) => {
        assert.ok(error instanceof Error);
        assert.match(error.message, /whitening file .*\.dlwh has sha256 [0-9a-f]{64}, the manifest/);
        assert.match(error.message, new RegExp(`expects ${other}`));
        return true;
      },
    );
    await assert.rejects(
      loadEmbeddingModel({ ...manifest, whitening: { ...manifest.whitening!, dimension: 256 } }),
      /maps 1792 → 512 dimensions, the manifest says 1792 → 256/,
    );
  });
});
