/**
 * Reads a TF.js graph model bundled in the `nsfwjs` npm package. nsfwjs ships each model as
 * CommonJS modules rather than `model.json` + `.bin`: `model.min.js` exports the model JSON and
 * each `group1-shardXofY.min.js` exports one weight shard as a base64 string.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { TfjsGraphModel, TfjsGraphModelJson } from './tfjsGraphModel.ts';

export type NsfwjsModelName = 'mobilenet_v2' | 'mobilenet_v2_mid' | 'inception_v3';

export interface NsfwjsGraphModel extends TfjsGraphModel {
  /** The installed nsfwjs version, part of the converted model's provenance. */
  packageVersion: string;
  modelDir: string;
}

const require = createRequire(import.meta.url);

/** The root folder of the installed nsfwjs package (its `exports` map hides `dist/models`). */
export function nsfwjsPackageDir(): string {
  // Resolves to <pkg>/dist/cjs/index.js.
  return join(dirname(require.resolve('nsfwjs')), '..', '..');
}

export function loadNsfwjsGraphModel(name: NsfwjsModelName = 'mobilenet_v2_mid'): NsfwjsGraphModel {
  const packageDir = nsfwjsPackageDir();
  const { version } = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as {
    version: string;
  };
  const modelDir = join(packageDir, 'dist', 'models', name);
  const modelJson = unwrapDefault(require(join(modelDir, 'model.min.js'))) as TfjsGraphModelJson;
  if (modelJson.format !== 'graph-model' || !Array.isArray(modelJson.modelTopology?.node)) {
    throw new Error(`${modelDir}/model.min.js is not a TF.js graph model`);
  }
  const shards: Buffer[] = [];
  for (const group of modelJson.weightsManifest) {
    for (const path of group.paths) {
      const base64 = unwrapDefault(require(join(modelDir, `${path}.min.js`)));
      if (typeof base64 !== 'string') throw new Error(`${modelDir}/${path}.min.js does not export a string`);
      shards.push(Buffer.from(base64, 'base64'));
    }
  }
  return { modelJson, weightData: new Uint8Array(Buffer.concat(shards)), packageVersion: version, modelDir };
}

function unwrapDefault(module: unknown): unknown {
  return typeof module === 'object' && module !== null && 'default' in module ? module.default : module;
}
