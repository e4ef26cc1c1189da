import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { DEFAULT_MODEL_OUTPUTS, buildDefaultModel } from './buildDefaultModel.ts';
import { ONNX_OPSET, UnsupportedTfGraphError, convertTfjsGraphToOnnx } from './convertTfjsGraphToOnnx.ts';
import { loadNsfwjsGraphModel } from './nsfwjsGraphModel.ts';
import { decodeOnnxModel } from './onnxProto.ts';
import type { TfNodeDef, TfjsGraphModel, TfjsWeightSpec } from './tfjsGraphModel.ts';

const photos = join(import.meta.dirname, '..', 'fixtures', 'photos');

await tf.setBackend('cpu');

/** Runs a TF.js graph model the way nsfwjs does: pure-JS CPU backend, weights from memory. */
async function tfjsGraphModel(model: TfjsGraphModel): Promise<tf.GraphModel> {
  return tf.loadGraphModel({
    load: () =>
      Promise.resolve({
        format: 'graph-model',
        modelTopology: model.modelJson.modelTopology,
        weightSpecs: model.modelJson.weightsManifest.flatMap((g) => g.weights),
        weightData: model.weightData.slice().buffer,
      }),
  });
}

async function runTfjs(model: TfjsGraphModel, nhwc: tf.Tensor4D, outputs: string[]): Promise<Float32Array[]> {
  const graph = await tfjsGraphModel(model);
  const results = graph.execute(nhwc, outputs) as tf.Tensor[];
  const data = await Promise.all(results.map(async (t) => (await t.data()) as Float32Array));
  tf.dispose(results);
  graph.dispose();
  return data;
}

function nhwcToNchw(nhwc: Float32Array, [n, h, w, c]: number[]): Float32Array {
  const out = new Float32Array(nhwc.length);
  for (let b = 0; b < n!; b++)
    for (let y = 0; y < h!; y++)
      for (let x = 0; x < w!; x++)
        for (let ch = 0; ch < c!; ch++)
          out[((b * c! + ch) * h! + y) * w! + x] = nhwc[((b * h! + y) * w! + x) * c! + ch]!;
  return out;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** Deterministic pseudo-random values in [-1, 1). */
function pseudoRandom(count: number, seed: number): Float32Array {
  let state = seed;
  return Float32Array.from({ length: count }, () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return (state / 2 ** 31) * 2 - 1;
  });
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
const ints = (...i: number[]) => ({ list: { i: i.map(String) } });
const float = { type: 'DT_FLOAT' };

/**
 * A small graph with every op the converter maps, at odd sizes: SAME padding with an uneven
 * split, a depthwise multiplier of 2, explicit Pad, non-square VALID conv, residual add, Mean and
 * a whole-map AvgPool; weights both uint8-quantised and plain float32.
 */
function syntheticGraph(): TfjsGraphModel {
  const nodes: TfNodeDef[] = [];
  const specs: TfjsWeightSpec[] = [];
  const chunks: Uint8Array[] = [];
  let seed = 1;
  const constant = (
    name: string,
    shape: number[],
    values?: number[],
    dtype: 'float32' | 'int32' = 'float32',
  ) => {
    const count = shape.reduce((a, b) => a * b, 1);
    nodes.push({ name, op: 'Const', attr: { dtype: { type: dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT' } } });
    if (dtype === 'int32') {
      specs.push({ name, shape, dtype });
      chunks.push(new Uint8Array(Int32Array.from(values ?? []).buffer));
    } else if (values) {
      specs.push({ name, shape, dtype });
      chunks.push(new Uint8Array(Float32Array.from(values).buffer));
    } else {
      // uint8-quantised like nsfwjs's weights: value = q · scale + min.
      specs.push({ name, shape, dtype, quantization: { dtype: 'uint8', min: -0.8, scale: 1.6 / 255 } });
      chunks.push(Uint8Array.from(pseudoRandom(count, seed++), (v) => Math.floor((v + 1) * 127.5)));
    }
    return name;
  };
  const op = (name: string, type: string, input: string[], attr: TfNodeDef['attr'] = {}) => {
    nodes.push({ name, op: type, input, attr: { T: float, ...attr } });
    return name;
  };
  const conv = (padding: string, strides: number[]) => ({
    strides: ints(...strides),
    padding: { s: b64(padding) },
    data_format: { s: b64('NHWC') },
    dilations: ints(1, 1, 1, 1),
    explicit_paddings: { list: {} },
  });
  const fused = (ops: string[]) => ({
    fused_ops: { list: { s: ops.map(b64) } },
    num_args: { i: '1' },
    epsilon: { f: 0 },
  });

  nodes.push({
    name: 'input',
    op: 'Placeholder',
    attr: { dtype: float, shape: { shape: { dim: [-1, 10, 12, 3].map((s) => ({ size: String(s) })) } } },
  });
  const scaled = op('scale/Mul', 'Mul', [constant('scale/y', [], [2]), 'input']);
  const centred = op('scale/Sub', 'Sub', [scaled, constant('shift/y', [], [1])]);
  const alias = op('scale/Identity', 'Identity', [centred]);
  const c1 = op(
    'c1',
    '_FusedConv2D',
    [alias, constant('c1/w', [3, 3, 3, 8]), constant('c1/b', [8], [...pseudoRandom(8, 99)])],
    {
      ...conv('SAME', [1, 2, 2, 1]),
      ...fused(['BiasAdd', 'Relu6']),
    },
  );
  const dw = op(
    'dw',
    'FusedDepthwiseConv2dNative',
    [c1, constant('dw/w', [3, 3, 8, 2]), constant('dw/b', [16])],
    {
      ...conv('SAME', [1, 1, 1, 1]),
      ...fused(['BiasAdd', 'Relu']),
    },
  );
  const padded = op('pad', 'Pad', [dw, constant('pad/p', [4, 2], [0, 0, 1, 0, 0, 2, 0, 0], 'int32')]);
  const c2 = op('c2', 'Conv2D', [padded, constant('c2/w', [2, 3, 16, 4])], conv('VALID', [1, 1, 2, 1]));
  const biased = op('c2/bias', 'BiasAdd', [c2, constant('c2/b', [4], [0.5, -0.25, 1, 2])], {
    data_format: { s: b64('NHWC') },
  });
  const r = op('c2/relu6', 'Relu6', [biased]);
  const c3 = op('c3', 'Conv2D', [r, constant('c3/w', [1, 1, 4, 4])], conv('SAME', [1, 1, 1, 1]));
  const sum = op('residual', 'AddV2', [r, c3]);
  op('mean', 'Mean', [sum, constant('mean/axes', [2], [1, 2], 'int32')], {
    keep_dims: { b: false },
    Tidx: { type: 'DT_INT32' },
  });
  const pooled = op('avgpool', 'AvgPool', [sum], { ksize: ints(1, 5, 3, 1), ...conv('VALID', [1, 1, 1, 1]) });
  op('squeeze', 'Squeeze', [pooled], { squeeze_dims: ints(1, 2) });
  op('unused', 'Softmax', ['squeeze']);

  const weightData = new Uint8Array(Buffer.concat(chunks));
  return {
    modelJson: {
      format: 'graph-model',
      modelTopology: { node: nodes, versions: { producer: 1 } },
      weightsManifest: [{ paths: ['w'], weights: specs }],
    },
    weightData,
  };
}

describe('convertTfjsGraphToOnnx', () => {
  it('matches TF.js on every op it maps (synthetic graph, odd sizes)', async () => {
    const model = syntheticGraph();
    const converted = convertTfjsGraphToOnnx(model, {
      inputName: 'images',
      outputs: [
        { name: 'mean', tfNode: 'mean' },
        { name: 'pooled', tfNode: 'squeeze' },
        { name: 'map', tfNode: 'residual' },
      ],
    });
    assert.equal(converted.convertedOps.Softmax, undefined, 'nodes no output needs are left out');

    const shape = [2, 10, 12, 3];
    const nhwc = pseudoRandom(2 * 10 * 12 * 3, 7).map((v) => (v + 1) / 2);
    const [mean, pooled, map] = await runTfjs(
      model,
      tf.tensor4d(nhwc, shape as [number, number, number, number]),
      ['mean', 'squeeze', 'residual'],
    );

    const session = await ort.InferenceSession.create(converted.bytes);
    const out = await session.run({
      images: new ort.Tensor('float32', nhwcToNchw(nhwc, shape), [2, 3, 10, 12]),
    });
    await session.release();
    assert.deepEqual(out.map!.dims, [2, 4, 5, 3]);
    assert.ok(maxAbsDiff(out.mean!.data as Float32Array, mean!) < 1e-5);
    assert.ok(maxAbsDiff(out.pooled!.data as Float32Array, pooled!) < 1e-5);
    assert.ok(maxAbsDiff(out.map!.data as Float32Array, nhwcToNchw(map!, [2, 5, 3, 4])) < 1e-5);
  });

  it('names the node and op it cannot convert', () => {
    const model = syntheticGraph();
    assert.throws(
      () =>
        convertTfjsGraphToOnnx(model, { inputName: 'images', outputs: [{ name: 'p', tfNode: 'unused' }] }),
      (error: unknown) =>
        error instanceof UnsupportedTfGraphError && /"unused" \(Softmax\)/.test(error.message),
    );
  });

  it('converts nsfwjs mobilenet_v2_mid to an opset-13 graph with a dynamic NCHW input', async () => {
    const { manifest } = await buildDefaultModel();
    const onnx = decodeOnnxModel(readFileSync(manifest.file));
    assert.equal(onnx.opset_import[0]?.version, ONNX_OPSET);
    const [input] = onnx.graph.input;
    assert.equal(input?.name, 'images');
    assert.deepEqual(input?.type.tensor_type.shape.dim, [
      { dim_param: 'N' },
      { dim_value: 3 },
      { dim_param: 'H' },
      { dim_param: 'W' },
    ]);
    assert.deepEqual(
      onnx.graph.output.map((o) => o.name),
      ['embedding', 'feature_map'],
    );
    const ops = new Set(onnx.graph.node.map((n) => n.op_type));
    assert.deepEqual([...ops].sort(), [
      'Add',
      'Clip',
      'Conv',
      'GlobalAveragePool',
      'Identity',
      'Mul',
      'Squeeze',
      'Sub',
    ]);

    // Any input size: 320 × 256 gives a 10 × 8 map whose average is the embedding.
    const session = await ort.InferenceSession.create(manifest.file);
    const pixels = pseudoRandom(3 * 320 * 256, 3).map((v) => (v + 1) / 2);
    const out = await session.run({ images: new ort.Tensor('float32', pixels, [1, 3, 320, 256]) });
    await session.release();
    assert.deepEqual(out.feature_map!.dims, [1, 1792, 10, 8]);
    const map = out.feature_map!.data as Float32Array;
    const averaged = Float32Array.from(
      { length: 1792 },
      (_, c) => map.slice(c * 80, (c + 1) * 80).reduce((a, b) => a + b) / 80,
    );
    assert.ok(maxAbsDiff(averaged, out.embedding!.data as Float32Array) < 1e-5);
  });

  it('gives the same features as TF.js on the nsfwjs graph for real photos (max abs diff < 1e-4)', async () => {
    const { manifest } = await buildDefaultModel();
    const names = ['chelsea.jpg', 'coffee.jpg', 'camera.jpg'];
    const size = 224;
    const nhwc = new Float32Array(names.length * size * size * 3);
    for (const [i, name] of names.entries()) {
      const rgb = await sharp(join(photos, name))
        .toColourspace('srgb')
        .resize(size, size, { fit: 'fill' })
        .raw()
        .toBuffer();
      for (let p = 0; p < rgb.length; p++) nhwc[i * rgb.length + p] = rgb[p]! / 255;
    }
    const shape = [names.length, size, size, 3];
    const [embedding, featureMap] = await runTfjs(
      loadNsfwjsGraphModel('mobilenet_v2_mid'),
      tf.tensor4d(nhwc, shape as [number, number, number, number]),
      DEFAULT_MODEL_OUTPUTS.map((o) => o.tfNode),
    );

    const session = await ort.InferenceSession.create(manifest.file);
    const out = await session.run({
      images: new ort.Tensor('float32', nhwcToNchw(nhwc, shape), [names.length, 3, size, size]),
    });
    await session.release();
    const embeddingDiff = maxAbsDiff(out.embedding!.data as Float32Array, embedding!);
    const mapDiff = maxAbsDiff(
      out.feature_map!.data as Float32Array,
      nhwcToNchw(featureMap!, [names.length, 7, 7, 1792]),
    );
    console.log(
      `ONNX vs TF.js on ${names.length} photos: embedding max abs diff ${embeddingDiff.toExponential(2)}, feature map ${mapDiff.toExponential(2)}`,
    );
    assert.ok(embeddingDiff < 1e-4, `embedding max abs diff ${embeddingDiff}`);
    assert.ok(mapDiff < 1e-4, `feature map max abs diff ${mapDiff}`);
  });
});
