import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  InvalidModelManifestError,
  defaultModelManifest,
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
