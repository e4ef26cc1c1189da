/**
 * Builds the default embedding model once, at set-up: converts nsfwjs's `mobilenet_v2_mid` TF.js
 * graph to ONNX and writes it with a manifest sidecar holding its sha256 (the backbone, which is
 * also the v1 space: average pooling, 1792-d). Idempotent: when the file on disk matches the
 * sidecar (same hash, same converter, same nsfwjs), nothing is done. Then writes the default
 * model's manifest, descriptor v2 (`descriptorV2Manifest`: GeM + the committed learned whitening
 * `embedder/models/mobilenet_v2_140_mid.gem3-lw512.dlwh`, 512-d), beside it.
 *
 *   npx tsx embedder/src/buildDefaultModel.ts [--force] [model.onnx]
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { readFileSync } from 'node:fs';
import { convertTfjsGraphToOnnx } from './convertTfjsGraphToOnnx.ts';
import type { ModelManifest } from './modelManifest.ts';
import { defaultModelManifest, descriptorV2Manifest, loadModelManifest } from './modelManifest.ts';
import { loadNsfwjsGraphModel, nsfwjsPackageDir } from './nsfwjsGraphModel.ts';

const repoRoot = resolve(import.meta.dirname, '..', '..');

/** `.stack/models/mobilenet_v2_140_mid.onnx` under the repository root. */
export const DEFAULT_MODEL_PATH = join(repoRoot, '.stack', 'models', 'mobilenet_v2_140_mid.onnx');

/**
 * Descriptor v2's whitening: fitted by `npx tsx bench/qualityWhitening.ts` on the development set
 * and committed (with its provenance JSON, whose sha256 the manifest carries), because the fit
 * needs the dev set's Debian packages and minutes of CPU a fresh machine should not spend.
 */
export const DESCRIPTOR_V2 = {
  whiteningPath: join(repoRoot, 'embedder', 'models', 'mobilenet_v2_140_mid.gem3-lw512.dlwh'),
  provenancePath: join(repoRoot, 'embedder', 'models', 'mobilenet_v2_140_mid.gem3-lw512.json'),
  gemP: 3,
  dimension: 512,
} as const;

/** Bump when the converter's output for the same source changes. */
const CONVERTER_VERSION = '1';

const tfPrefix =
  'StatefulPartitionedCall/sequential/keras_layer/StatefulPartitionedCall/StatefulPartitionedCall/' +
  'StatefulPartitionedCall/predict/';

/** The TF nodes of the nsfwjs graph we expose: the pooled feature and the last feature map. */
export const DEFAULT_MODEL_OUTPUTS = [
  { name: 'embedding', tfNode: `${tfPrefix}feature_vector/SpatialSqueeze` },
  { name: 'feature_map', tfNode: `${tfPrefix}MobilenetV2/Conv_1/Relu6` },
] as const;

export interface BuildDefaultModelOptions {
  /** Where the .onnx goes; its manifest is written beside it as `<name>.manifest.json`. */
  modelPath?: string;
  /** Rebuild even when the cached file is valid. */
  force?: boolean;
  log?: (line: string) => void;
}

export interface BuiltModel {
  /** The default model (descriptor v2). */
  manifest: ModelManifest;
  manifestPath: string;
  /** The converted backbone as it is: average pooling, 1792-d, the v1 space. */
  backbone: ModelManifest;
  backboneManifestPath: string;
  /** False when a valid cached file was reused. */
  built: boolean;
}

/** The sidecar manifest path of a model file. */
export function manifestPathFor(modelPath: string): string {
  return modelPath.replace(/\.onnx$/, '') + '.manifest.json';
}

/**
 * The backbone and the default model (descriptor v2) manifests. Throws when the committed
 * whitening was fitted on another backbone (a changed conversion needs a new fit).
 */
export async function buildDefaultModel(options: BuildDefaultModelOptions = {}): Promise<BuiltModel> {
  const backbone = await buildBackboneModel(options);
  const provenance = await readWhiteningProvenance();
  if (provenance.backbone.sha256 !== backbone.manifest.sha256) {
    throw new Error(
      `the descriptor v2 whitening (${DESCRIPTOR_V2.provenancePath}) was fitted on the backbone with sha256 ` +
        `${provenance.backbone.sha256}, this one has ${backbone.manifest.sha256}: refit it with ` +
        '`npx tsx bench/qualityWhitening.ts`',
    );
  }
  const manifest = descriptorV2Manifest(backbone.manifest, {
    file: DESCRIPTOR_V2.whiteningPath,
    sha256: provenance.sha256,
    dimension: provenance.outputDimension,
  });
  const manifestPath = backbone.manifestPath.replace(/\.manifest\.json$/, '.v2.manifest.json');
  const sidecar =
    JSON.stringify(
      { ...manifest, provenance: { ...backbone.manifest.provenance, whitening: provenance } },
      null,
      2,
    ) + '\n';
  const current = await readFile(manifestPath, 'utf8').catch(() => undefined);
  if (current !== sidecar) await writeAtomically(manifestPath, sidecar);
  return {
    manifest,
    manifestPath,
    backbone: backbone.manifest,
    backboneManifestPath: backbone.manifestPath,
    built: backbone.built,
  };
}

type WhiteningProvenance = {
  sha256: string;
  outputDimension: number;
  backbone: { sha256: string };
};

async function readWhiteningProvenance(): Promise<WhiteningProvenance> {
  try {
    return JSON.parse(await readFile(DESCRIPTOR_V2.provenancePath, 'utf8')) as WhiteningProvenance;
  } catch (cause) {
    throw new Error(`cannot read the descriptor v2 whitening's provenance ${DESCRIPTOR_V2.provenancePath}`, {
      cause,
    });
  }
}

/** The converted backbone (average pooling, 1792-d: the v1 space), built once and cached. */
export async function buildBackboneModel(
  options: BuildDefaultModelOptions = {},
): Promise<{ manifest: ModelManifest; manifestPath: string; built: boolean }> {
  const modelPath = resolve(options.modelPath ?? DEFAULT_MODEL_PATH);
  const manifestPath = manifestPathFor(modelPath);
  const log = options.log ?? (() => {});
  const source = `nsfwjs@${nsfwjsVersion()}/dist/models/mobilenet_v2_mid`;

  if (!options.force) {
    const cached = await validCachedModel(modelPath, manifestPath, source);
    if (cached) {
      log(`${modelPath} is up to date (sha256 ${cached.sha256})`);
      return { manifest: cached, manifestPath, built: false };
    }
  }

  const started = performance.now();
  const graph = loadNsfwjsGraphModel('mobilenet_v2_mid');
  const converted = convertTfjsGraphToOnnx(graph, {
    inputName: 'images',
    outputs: [...DEFAULT_MODEL_OUTPUTS],
    graphName: 'mobilenet_v2_140_mid',
    producerVersion: CONVERTER_VERSION,
    docString:
      'MobileNetV2-1.4 ImageNet backbone from nsfwjs (MIT). Input: images [N,3,H,W] RGB in [0,1]. ' +
      'Outputs: embedding [N,1792] (global average pool), feature_map [N,1792,H/32,W/32] (Conv_1/Relu6).',
    metadata: { source, license: 'MIT (nsfwjs)' },
  });
  const sha256 = createHash('sha256').update(converted.bytes).digest('hex');
  const manifest = defaultModelManifest(modelPath, sha256);

  await mkdir(dirname(modelPath), { recursive: true });
  await writeAtomically(modelPath, converted.bytes);
  const sidecar = {
    ...manifest,
    file: basename(modelPath),
    provenance: {
      source,
      license: 'MIT (nsfwjs, https://github.com/infinitered/nsfwjs)',
      converter: `deeplens-tfjs-to-onnx@${CONVERTER_VERSION}`,
      parameterCount: converted.parameterCount,
      convertedOps: converted.convertedOps,
    },
  };
  await writeAtomically(manifestPath, JSON.stringify(sidecar, null, 2) + '\n');
  const ms = Math.round(performance.now() - started);
  log(
    `wrote ${modelPath} (${(converted.bytes.byteLength / 2 ** 20).toFixed(1)} MiB, sha256 ${sha256}) in ${ms} ms`,
  );
  return { manifest: { ...manifest, provenance: sidecar.provenance }, manifestPath, built: true };
}

async function validCachedModel(
  modelPath: string,
  manifestPath: string,
  source: string,
): Promise<ModelManifest | undefined> {
  try {
    const manifest = await loadModelManifest(manifestPath);
    const provenance = manifest.provenance ?? {};
    if (
      provenance.source !== source ||
      provenance.converter !== `deeplens-tfjs-to-onnx@${CONVERTER_VERSION}`
    ) {
      return undefined;
    }
    const sha256 = createHash('sha256')
      .update(await readFile(modelPath))
      .digest('hex');
    return sha256 === manifest.sha256 && manifest.file === modelPath ? manifest : undefined;
  } catch {
    return undefined;
  }
}

function nsfwjsVersion(): string {
  const pkg = JSON.parse(readFileSync(join(nsfwjsPackageDir(), 'package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** Concurrent builders (parallel test files) each write a temp file and rename it into place. */
async function writeAtomically(path: string, data: Uint8Array | string): Promise<void> {
  const temp = `${path}.${randomUUID()}.tmp`;
  try {
    await writeFile(temp, data);
    await rename(temp, path);
  } finally {
    await rm(temp, { force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const modelPath = args.find((a) => !a.startsWith('--'));
  buildDefaultModel({
    force: args.includes('--force'),
    log: console.log,
    ...(modelPath ? { modelPath } : {}),
  }).then(
    ({ manifestPath, backboneManifestPath }) =>
      console.log(`manifest: ${manifestPath} (default, descriptor v2); v1: ${backboneManifestPath}`),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
