/**
 * What DeepLens needs to know to run an ONNX image model as an embedder. Any CNN or ViT image
 * encoder with one image input and one vector output plugs in through such a manifest (our
 * converted MobileNetV2, a ResNet-50, a CLIP image tower…); see `embedder/models/*.example.json`.
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';

const channelValues = z.tuple([z.number(), z.number(), z.number()]);

export const modelManifestSchema = z.object({
  /** Stable name of the model family; part of every stored vector's identity. */
  modelId: z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/, 'lower-case letters, digits, _ . -'),
  /** Changes whenever the weights or the graph change; vectors of different versions never mix. */
  modelVersion: z.string().min(1),
  /** Path of the .onnx file; relative paths are resolved against the manifest's folder. */
  file: z.string().min(1),
  /** Hex sha256 of the .onnx file, checked when the model is loaded if present. */
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  inputName: z.string().min(1),
  input: z.object({
    width: z.number().int().positive(),
    height: z.number().int().positive(),
    channelOrder: z.enum(['RGB', 'BGR']),
    layout: z.enum(['NCHW', 'NHWC']),
    /**
     * `fill` stretches the whole picture to width × height; `cover` scales the short side and
     * crops the centre (the usual ImageNet evaluation transform).
     */
    resize: z.enum(['fill', 'cover']).default('fill'),
  }),
  /** Tensor value = (pixel · scale − mean[c]) / std[c], pixel in 0‥255, c in channel order. */
  normalization: z.object({
    scale: z.number().positive(),
    mean: channelValues,
    std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]),
  }),
  /** The pooled descriptor output, shape [N, dimension]. */
  outputName: z.string().min(1),
  dimension: z.number().int().positive(),
  /** Optional last convolutional feature map, shape [N, dimension, h, w], for GeM pooling. */
  featureMapOutput: z.string().min(1).optional(),
  /**
   * How the descriptor is pooled: `avg` takes `outputName` as it is; `gem` pools
   * `featureMapOutput` with the generalised mean of exponent `gemP`. Part of the space.
   */
  pooling: z.enum(['avg', 'gem']).default('avg'),
  gemP: z.number().positive().default(3),
  /**
   * A linear map applied to the pooled, unit-length descriptor (then unit length again): a `DLWH`
   * file (`poolingWhitening.ts`) from `dimension` to `whitening.dimension`, checked against its
   * sha256 when the model loads. Part of the space.
   */
  whitening: z
    .object({
      file: z.string().min(1),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      dimension: z.number().int().positive(),
    })
    .optional(),
  description: z.string().optional(),
  /** Free-form: where the weights came from, how the file was built, licence. */
  provenance: z.record(z.string(), z.unknown()).optional(),
});

export type ModelManifest = z.infer<typeof modelManifestSchema>;

/**
 * What a descriptor's pooling and whitening add to the model's version, so the stored identity
 * `modelId@modelVersion` (events, collections, the embedder's consumer group) names the whole
 * space: `gem3-w<first 12 hex of the whitening's sha256>-<dimensions>`; empty for the model's own
 * average without whitening (the spaces embedded before pooling was configurable).
 */
export function descriptorSpaceSuffix(
  manifest: Pick<ModelManifest, 'pooling' | 'gemP' | 'whitening' | 'dimension'>,
): string {
  if (manifest.pooling === 'avg' && !manifest.whitening) return '';
  const pooling = manifest.pooling === 'gem' ? `gem${manifest.gemP}` : 'avg';
  const whitening = manifest.whitening ? `-w${manifest.whitening.sha256.slice(0, 12)}` : '';
  return `${pooling}${whitening}-${manifest.whitening?.dimension ?? manifest.dimension}`;
}

/** The dimension of the vectors the model stores: the whitening's output, else the pooled output. */
export function descriptorDimension(manifest: Pick<ModelManifest, 'whitening' | 'dimension'>): number {
  return manifest.whitening?.dimension ?? manifest.dimension;
}
export type ModelManifestInput = z.input<typeof modelManifestSchema>;

export class InvalidModelManifestError extends Error {
  constructor(source: string, issues: z.ZodIssue[]) {
    const details = issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    super(`invalid model manifest ${source}: ${details}`);
  }
}

/**
 * Validates a manifest and makes `file` absolute (relative to `baseDir`, default the current
 * directory). Throws `InvalidModelManifestError` naming every bad field.
 */
export function parseModelManifest(
  value: unknown,
  options: { baseDir?: string; source?: string } = {},
): ModelManifest {
  const result = modelManifestSchema.safeParse(value);
  if (!result.success) throw new InvalidModelManifestError(options.source ?? '(inline)', result.error.issues);
  const manifest = result.data;
  const source = options.source ?? '(inline)';
  const absolute = (path: string) =>
    isAbsolute(path) ? path : resolve(options.baseDir ?? process.cwd(), path);
  if (manifest.pooling === 'gem' && manifest.featureMapOutput === undefined) {
    throw new InvalidModelManifestError(source, [
      { code: 'custom', path: ['pooling'], message: 'gem pooling needs a featureMapOutput' },
    ]);
  }
  // Vectors of different spaces must never share an identity: the version names the pooling and
  // the whitening (its hash and dimensions), so a manifest that forgets them is refused.
  const suffix = descriptorSpaceSuffix(manifest);
  if (suffix && !manifest.modelVersion.endsWith(suffix)) {
    throw new InvalidModelManifestError(source, [
      {
        code: 'custom',
        path: ['modelVersion'],
        message: `must end with "${suffix}" (its pooling and whitening name the embedding space)`,
      },
    ]);
  }
  return {
    ...manifest,
    file: absolute(manifest.file),
    ...(manifest.whitening
      ? { whitening: { ...manifest.whitening, file: absolute(manifest.whitening.file) } }
      : {}),
  };
}

/** Reads and validates a manifest JSON file; its `file` (and the whitening's) is resolved against the manifest's folder. */
export async function loadModelManifest(path: string): Promise<ModelManifest> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (cause) {
    throw new Error(`cannot read model manifest ${path}`, { cause });
  }
  return parseModelManifest(json, { baseDir: dirname(path), source: path });
}

export const DEFAULT_MODEL_ID = 'mobilenet_v2_140_nsfwjs_mid';

/**
 * The manifest of the MobileNetV2-1.4 backbone converted from nsfwjs's `mobilenet_v2_mid` graph.
 * The graph maps its [0, 1] input to [−1, 1] itself (its first ops are ·2 and −1), so we only
 * divide by 255 here. The version is the file's content hash: a different conversion can never
 * pass for the same model.
 */
export function defaultModelManifest(file: string, sha256: string): ModelManifest {
  return parseModelManifest({
    modelId: DEFAULT_MODEL_ID,
    modelVersion: sha256.slice(0, 12),
    file,
    sha256,
    inputName: 'images',
    input: { width: 224, height: 224, channelOrder: 'RGB', layout: 'NCHW', resize: 'fill' },
    normalization: { scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] },
    outputName: 'embedding',
    dimension: 1792,
    featureMapOutput: 'feature_map',
    description:
      'MobileNetV2 (depth multiplier 1.4, ImageNet backbone) from nsfwjs mobilenet_v2_mid; ' +
      'embedding = global average of Conv_1/Relu6, feature_map = Conv_1/Relu6 (NCHW).',
  } satisfies ModelManifestInput);
}

/**
 * Descriptor v2, the default space since issue 15: the same backbone, GeM (p = 3) over its
 * feature map and a learned whitening to `whitening.dimension` (512). Its version is the
 * backbone's plus `descriptorSpaceSuffix`, e.g. `24d74ca05924-gem3-w1f0c…-512`.
 */
export function descriptorV2Manifest(
  backbone: ModelManifest,
  whitening: { file: string; sha256: string; dimension: number },
): ModelManifest {
  const space = { pooling: 'gem' as const, gemP: 3, whitening, dimension: backbone.dimension };
  return parseModelManifest({
    ...backbone,
    ...space,
    modelVersion: `${backbone.modelVersion}-${descriptorSpaceSuffix(space)}`,
    description:
      `${backbone.description ?? backbone.modelId}; descriptor v2: GeM (p = 3) of feature_map, ` +
      `unit length, learned whitening to ${whitening.dimension} dimensions, unit length.`,
  } satisfies ModelManifestInput);
}
