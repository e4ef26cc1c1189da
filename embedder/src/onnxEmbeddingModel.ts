/**
 * Runs an ONNX image model described by a manifest with onnxruntime-node (CPU) and turns images
 * into L2-normalised descriptors.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import type { DecodeImageOptions } from './decodeImageRgb.ts';
import { decodeImageRgb } from './decodeImageRgb.ts';
import type { ModelManifest } from './modelManifest.ts';
import { descriptorDimension } from './modelManifest.ts';
import { decodeForSearch } from './decodeUpload.ts';
import { extractLocalFeatures } from './localFeatures.ts';
import { perceptualHash } from './perceptualHash.ts';
import type { Pooling } from './pooling.ts';
import { gemPool, l2Normalize } from './pooling.ts';
import { applyWhitening, decodeWhitening, type Whitening } from './poolingWhitening.ts';

export interface LoadEmbeddingModelOptions {
  /**
   * onnxruntime intra-op threads. Default min(2, cores): on the 2-core target, 2 threads run
   * batches about 1.9× and single images 1.7× faster than 1 (`measureModelThroughput.ts`).
   */
  intraOpThreads?: number;
  /** Larger `embed` calls run in several batches of at most this many images. Default 16. */
  maxBatchSize?: number;
  /** Images with more pixels are rejected before decoding (decompression bombs). */
  maxInputPixels?: number;
  /**
   * Let onnxruntime's threads spin between operators instead of sleeping. Default false: on the
   * 2-core target the spinning takes the cores from decoding and the write side; without it a
   * batch costs about a quarter less CPU and runs faster (`bench/embedder.ts`).
   */
  spinWait?: boolean;
}

export interface EmbeddingModel {
  readonly manifest: ModelManifest;
  readonly pooling: Pooling;
  /** The stored vectors' dimension: the whitening's output when there is one. */
  readonly dimension: number;
  /**
   * Names the vector space: model, version (which names the pooling, the whitening's hash and the
   * dimensions where they are configured: `descriptorSpaceSuffix`) and pooling. Vectors are
   * comparable only when this is equal; `modelId@modelVersion` is what travels with every vector.
   */
  readonly embeddingSpace: string;
  /**
   * One unit-length descriptor per image, in order. Rejects with `UnsupportedImageError` or
   * `UnprocessableImageError` (with a `reason`; `detail.index` says which image) if any image
   * cannot be decoded; embed images one by one where a single bad upload must not fail the others.
   */
  embed(images: readonly Uint8Array[]): Promise<Float32Array[]>;
  /**
   * Like `embed`, but one bad image fails only itself: each result is its vector or the
   * decoding error (`UnsupportedImageError` / `UnprocessableImageError` with a `reason`); the
   * good images still run as one batch.
   */
  embedSettled(images: readonly Uint8Array[]): Promise<(Float32Array | Error)[]>;
  /**
   * Like `embedSettled`, with each image's perceptual hash (`perceptualHash`) computed from the
   * same decoded pixels, and with `localFeatures: true` its local features (`localFeatures.ts`)
   * from the same decode: what search needs of a query image.
   */
  describeSettled(
    images: readonly Uint8Array[],
    options?: { localFeatures?: boolean },
  ): Promise<(ImageDescription | Error)[]>;
  /** How this model's images are decoded: `decodeImageRgb(bytes, decodeOptions)`. */
  readonly decodeOptions: DecodeImageOptions;
  /**
   * One unit-length descriptor per image already decoded with `decodeOptions` (by
   * `decodeImageRgb` or `decodeUpload`), in order, in batches of at most `maxBatchSize`.
   */
  embedDecoded(pixels: readonly Buffer[]): Promise<Float32Array[]>;
  close(): Promise<void>;
}

/**
 * An image as search compares it: its descriptor, its 64-bit perceptual hash (16 hex digits)
 * and, when asked for, its local features (the blob `extractLocalFeatures` writes).
 */
export type ImageDescription = { vector: Float32Array; perceptualHash: string; localFeatures?: Buffer };

export async function loadEmbeddingModel(
  manifest: ModelManifest,
  options: LoadEmbeddingModelOptions = {},
): Promise<EmbeddingModel> {
  // Pooling and whitening come from the manifest only: they are part of the space its version names.
  const { pooling, gemP } = manifest;
  const maxBatchSize = options.maxBatchSize ?? 16;
  const pooledFrom = pooling === 'gem' ? manifest.featureMapOutput : manifest.outputName;
  if (pooledFrom === undefined) {
    throw new Error(`model ${manifest.modelId} has no featureMapOutput, so GeM pooling is not possible`);
  }
  const outputName: string = pooledFrom;

  const bytes = await readFile(manifest.file).catch((cause: unknown) => {
    throw new Error(`cannot read model file ${manifest.file}`, { cause });
  });
  if (manifest.sha256 !== undefined) {
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== manifest.sha256) {
      throw new Error(
        `model file ${manifest.file} has sha256 ${actual}, the manifest expects ${manifest.sha256}`,
      );
    }
  }
  const whitening = manifest.whitening ? await loadWhitening(manifest) : undefined;
  const session = await ort.InferenceSession.create(bytes, {
    intraOpNumThreads: options.intraOpThreads ?? Math.min(2, availableParallelism()),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: options.spinWait ? '1' : '0' } } },
  });
  for (const [what, name, names] of [
    ['input', manifest.inputName, session.inputNames],
    ['output', outputName, session.outputNames],
  ] as const) {
    if (!names.includes(name)) {
      await session.release();
      throw new Error(`model ${manifest.file} has no ${what} "${name}" (it has ${names.join(', ')})`);
    }
  }

  const { width, height, layout } = manifest.input;
  const pixelsPerImage = width * height * 3;

  const decodeOptions: DecodeImageOptions = {
    width,
    height,
    resize: manifest.input.resize,
    ...(options.maxInputPixels === undefined ? {} : { maxInputPixels: options.maxInputPixels }),
  };
  const decode = (image: Uint8Array) => decodeImageRgb(image, decodeOptions);

  /** One batch through the model: one unit-length descriptor per decoded image. */
  async function infer(decoded: readonly Buffer[]): Promise<Float32Array[]> {
    for (const rgb of decoded) {
      if (rgb.length !== pixelsPerImage)
        throw new Error(`decoded image has ${rgb.length} bytes, the model takes ${pixelsPerImage}`);
    }
    const batch = new Float32Array(decoded.length * pixelsPerImage);
    decoded.forEach((rgb, i) => writeNormalisedPixels(rgb, batch, i, manifest));
    const dims = layout === 'NCHW' ? [decoded.length, 3, height, width] : [decoded.length, height, width, 3];
    // No `fetches`: onnxruntime-node 1.23 returns a fetched subset under the wrong output names
    // (microsoft/onnxruntime#26865, fixed after 1.23.2). Every output here comes from the same
    // last feature map, so computing all of them costs nothing extra.
    const outputs = await session.run({ [manifest.inputName]: new ort.Tensor('float32', batch, dims) });
    const output = outputs[outputName];
    if (!output || !(output.data instanceof Float32Array))
      throw new Error(`model output ${outputName} is not float32`);
    const [n, channels] = output.dims as [number, number, ...number[]];
    if (n !== decoded.length || channels !== manifest.dimension) {
      throw new Error(
        `model output ${outputName} has shape [${output.dims.join(', ')}], expected [${decoded.length}, ${manifest.dimension}, …]`,
      );
    }
    const data = output.data;
    const perImage = data.length / n;
    return decoded.map((_, i) => {
      const pooled = l2Normalize(
        pooling === 'gem'
          ? gemPool(data, i * perImage, channels, perImage / channels, gemP)
          : data.slice(i * perImage, (i + 1) * perImage),
      );
      return whitening ? applyWhitening(whitening, pooled) : pooled;
    });
  }

  async function runBatch(images: readonly Uint8Array[], firstIndex: number): Promise<Float32Array[]> {
    const decoded = await Promise.allSettled(images.map(decode));
    return infer(
      decoded.map((result, i) => {
        if (result.status === 'fulfilled') return result.value;
        const error: unknown = result.reason;
        if (error instanceof Error && 'detail' in error && typeof error.detail === 'object' && error.detail) {
          Object.assign(error.detail, { index: firstIndex + i });
        }
        throw error;
      }),
    );
  }

  /** One decode per image: the model's pixels and their hash, and the local features if asked for. */
  async function decodeDescribed(
    image: Uint8Array,
    localFeatures: boolean,
  ): Promise<{ pixels: Buffer; perceptualHash: string; localFeatures?: Buffer }> {
    if (!localFeatures) {
      const pixels = await decode(image);
      return { pixels, perceptualHash: perceptualHash(pixels, width, height) };
    }
    const decoded = await decodeForSearch(image, decodeOptions);
    const grey = decoded.grey!;
    return {
      pixels: decoded.pixels,
      perceptualHash: decoded.perceptualHash,
      localFeatures: await extractLocalFeatures(grey.data, grey.width, grey.height),
    };
  }

  async function runSettled(
    images: readonly Uint8Array[],
    localFeatures: boolean,
  ): Promise<(ImageDescription | Error)[]> {
    const decoded = await Promise.allSettled(images.map((image) => decodeDescribed(image, localFeatures)));
    const good = decoded.flatMap((r) => (r.status === 'fulfilled' ? [r.value.pixels] : []));
    const vectors = good.length > 0 ? await infer(good) : [];
    let next = 0;
    return decoded.map((r) =>
      r.status === 'fulfilled'
        ? {
            vector: vectors[next++]!,
            perceptualHash: r.value.perceptualHash,
            ...(r.value.localFeatures ? { localFeatures: r.value.localFeatures } : {}),
          }
        : r.reason instanceof Error
          ? r.reason
          : new Error(String(r.reason)),
    );
  }

  async function describeSettled(
    images: readonly Uint8Array[],
    options: { localFeatures?: boolean } = {},
  ): Promise<(ImageDescription | Error)[]> {
    const results: (ImageDescription | Error)[] = [];
    for (let start = 0; start < images.length; start += maxBatchSize) {
      results.push(
        ...(await runSettled(images.slice(start, start + maxBatchSize), options.localFeatures ?? false)),
      );
    }
    return results;
  }

  return {
    manifest,
    pooling,
    dimension: descriptorDimension(manifest),
    embeddingSpace: `${manifest.modelId}@${manifest.modelVersion}/${pooling === 'gem' ? `gem${gemP}` : 'avg'}${
      manifest.whitening ? `+w${manifest.whitening.sha256.slice(0, 12)}` : ''
    }`,
    async embed(images) {
      const vectors: Float32Array[] = [];
      for (let start = 0; start < images.length; start += maxBatchSize) {
        vectors.push(...(await runBatch(images.slice(start, start + maxBatchSize), start)));
      }
      return vectors;
    },
    async embedSettled(images) {
      const results = await describeSettled(images);
      return results.map((r) => (r instanceof Error ? r : r.vector));
    },
    describeSettled,
    decodeOptions,
    async embedDecoded(pixels) {
      const vectors: Float32Array[] = [];
      for (let start = 0; start < pixels.length; start += maxBatchSize) {
        vectors.push(...(await infer(pixels.slice(start, start + maxBatchSize))));
      }
      return vectors;
    },
    close: () => session.release(),
  };
}

/**
 * The manifest's whitening file, refused (so the process does not start) unless its sha256 and
 * dimensions are the manifest's: a different whitening is a different space.
 */
async function loadWhitening(manifest: ModelManifest): Promise<Whitening> {
  const { file, sha256, dimension } = manifest.whitening!;
  const bytes = await readFile(file).catch((cause: unknown) => {
    throw new Error(
      `cannot read whitening file ${file} of model ${manifest.modelId}@${manifest.modelVersion}`,
      {
        cause,
      },
    );
  });
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== sha256) {
    throw new Error(
      `whitening file ${file} has sha256 ${actual}, the manifest of ${manifest.modelId}@${manifest.modelVersion} ` +
        `expects ${sha256}: restore the file (or refit it and let its space change)`,
    );
  }
  const whitening = decodeWhitening(bytes);
  if (whitening.inputDim !== manifest.dimension || whitening.outputDim !== dimension) {
    throw new Error(
      `whitening file ${file} maps ${whitening.inputDim} → ${whitening.outputDim} dimensions, ` +
        `the manifest says ${manifest.dimension} → ${dimension}`,
    );
  }
  return whitening;
}

/** Writes one decoded RGB image into slot `index` of the batch, normalised and in the model's layout. */
function writeNormalisedPixels(
  rgb: Buffer,
  batch: Float32Array,
  index: number,
  manifest: ModelManifest,
): void {
  const { width, height, channelOrder, layout } = manifest.input;
  const { scale, mean, std } = manifest.normalization;
  const plane = width * height;
  const base = index * plane * 3;
  const nchw = layout === 'NCHW';
  for (let c = 0; c < 3; c++) {
    const source = channelOrder === 'RGB' ? c : 2 - c;
    // (v * scale - mean) / std as one multiply-add per pixel.
    const factor = scale / (std[c] ?? 1);
    const offset = -(mean[c] ?? 0) / (std[c] ?? 1);
    const start = nchw ? base + c * plane : base + c;
    const step = nchw ? 1 : 3;
    for (let p = 0, at = start, from = source; p < plane; p++, at += step, from += 3) {
      batch[at] = rgb[from]! * factor + offset;
    }
  }
}
