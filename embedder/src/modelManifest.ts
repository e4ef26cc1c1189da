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
  description: z.string().optional(),
  /** Free-form: where the weights came from, how the file was built, licence. */
  provenance: z.record(z.string(), z.unknown()).optional(),
});

export type ModelManifest = z.infer<typeof modelManifestSchema>;
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
  const file = isAbsolute(manifest.file)
    ? manifest.file
    : resolve(options.baseDir ?? process.cwd(), manifest.file);
  return { ...manifest, file };
}

/** Reads and validates a manifest JSON file; its `file` is resolved against the manifest's folder. */
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
