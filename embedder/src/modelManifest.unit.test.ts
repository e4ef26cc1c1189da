import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  InvalidModelManifestError,
  defaultModelManifest,
  descriptorV2Manifest,
  loadModelManifest,
  parseModelManifest,
} from './modelManifest.ts';

const models = join(import.meta.dirname, '..', 'models');

describe('model manifests', () => {
  it('reads the ResNet-50 example and resolves its file next to the manifest', async () => {
    const manifest = await loadModelManifest(join(models, 'resnet50.example.json'));
    assert.equal(manifest.dimension, 2048);
    assert.equal(manifest.file, join(models, 'resnet50.onnx'));
    assert.deepEqual(manifest.normalization.mean, [0.485, 0.456, 0.406]);
    assert.equal(manifest.input.resize, 'cover');
  });

  it('describes the converted MobileNetV2 with its content hash as version', () => {
    const sha = 'ab'.repeat(32);
    const manifest = defaultModelManifest('/models/m.onnx', sha);
    assert.equal(manifest.modelId, 'mobilenet_v2_140_nsfwjs_mid');
    assert.equal(manifest.modelVersion, sha.slice(0, 12));
    assert.equal(manifest.dimension, 1792);
    assert.equal(manifest.featureMapOutput, 'feature_map');
    assert.equal(manifest.input.resize, 'fill');
  });

  it('descriptor v2 names its pooling, whitening hash and dimensions in its version', () => {
    const backbone = defaultModelManifest('/models/m.onnx', 'ab'.repeat(32));
    const whitening = { file: 'w.dlwh', sha256: 'cd'.repeat(32), dimension: 512 };
    const v2 = descriptorV2Manifest(backbone, whitening);
    assert.equal(v2.modelVersion, `${'ab'.repeat(6)}-gem3-w${'cd'.repeat(6)}-512`);
    assert.equal(v2.pooling, 'gem');
    assert.equal(v2.gemP, 3);
    assert.equal(v2.dimension, 1792, 'the backbone output the whitening takes');
    assert.equal(v2.whitening?.dimension, 512);
    assert.equal(backbone.pooling, 'avg');
    assert.equal(backbone.whitening, undefined);
    const other = descriptorV2Manifest(backbone, { ...whitening, sha256: 'ef'.repeat(32) });
    assert.notEqual(other.modelVersion, v2.modelVersion, 'another whitening is another space');
  });

  it('refuses a manifest whose version does not name its pooling and whitening, and resolves the whitening file', () => {
    const backbone = defaultModelManifest('/models/m.onnx', 'ab'.repeat(32));
    const whitening = { file: 'w.dlwh', sha256: 'cd'.repeat(32), dimension: 512 };
    assert.throws(
      () => parseModelManifest({ ...backbone, pooling: 'gem', whitening }, { source: 'v2.json' }),
      (error: unknown) => {
        assert.ok(error instanceof InvalidModelManifestError);
        assert.match(error.message, /v2\.json: modelVersion: must end with "gem3-wcdcdcdcdcdcd-512"/);
        return true;
      },
    );
    assert.throws(
      () =>
        parseModelManifest({
          ...backbone,
          pooling: 'gem',
          modelVersion: 'x-gem3-1792',
          featureMapOutput: undefined,
        }),
      /gem pooling needs a featureMapOutput/,
    );
    const parsed = parseModelManifest(
      { ...backbone, pooling: 'gem', whitening, modelVersion: `v-gem3-w${'cd'.repeat(6)}-512` },
      { baseDir: '/models' },
    );
    assert.equal(parsed.whitening?.file, '/models/w.dlwh');
  });

  it('names every invalid field', () => {
    assert.throws(
      () =>
        parseModelManifest(
          { modelId: 'Bad Id', file: 'x.onnx', inputName: 'in', outputName: 'out', dimension: -3 },
          { source: 'test.json' },
        ),
      (error: unknown) => {
        assert.ok(error instanceof InvalidModelManifestError);
        for (const field of ['modelId', 'modelVersion', 'input', 'normalization', 'dimension']) {
          assert.match(error.message, new RegExp(`\\b${field}\\b`));
        }
        assert.match(error.message, /test\.json/);
        return true;
      },
    );
  });
});
