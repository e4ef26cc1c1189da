import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * usearch's compiled index, used directly for int8 graphs. The package's JS wrapper turns an
 * `Int8Array` into a `Float32Array` before handing it over, and usearch then re-quantizes by the
 * L2 norm (×127 for a unit vector): for a 1792-d unit vector that leaves about two bits per
 * component. Handed to the binding as an `Int8Array`, our own per-vector max-abs scaling
 * (`quantizeInt8`) goes in unchanged (cosine is scale-invariant) and keeps seven.
 */
export type NativeIndex = {
  add(keys: BigUint64Array, vectors: Int8Array | Float32Array, threads: number): void;
  search(
    vectors: Int8Array | Float32Array,
    k: number,
    threads: number,
  ): [keys: BigUint64Array, distances: Float32Array, counts: BigUint64Array];
  remove(keys: BigUint64Array): number[];
  size(): number;
  save(path: string): void;
  load(path: string): void;
  view(path: string): void;
};

type NativeIndexConstructor = new (
  dimensions: number,
  metric: string,
  quantization: string,
  connectivity: number,
  expansionAdd: number,
  expansionSearch: number,
  multi: boolean,
) => NativeIndex;

const require = createRequire(import.meta.url);
let packageDir = dirname(require.resolve('usearch'));
while (!existsSync(join(packageDir, 'prebuilds')) && !existsSync(join(packageDir, 'build')))
  packageDir = dirname(packageDir);
const binding = (require('node-gyp-build') as (dir: string) => { CompiledIndex: NativeIndexConstructor })(
  packageDir,
);

export type GraphQuantization = 'i8' | 'f16';

/**
 * An empty cosine HNSW index whose vectors are held as `quantization`: `i8` takes int8 vectors
 * (`quantizeInt8`), `f16` takes f32 vectors and converts them.
 */
export function createGraphIndex(
  dim: number,
  hnsw: {
    connectivity: number;
    expansionAdd: number;
    expansionSearch: number;
    quantization: GraphQuantization;
  },
): NativeIndex {
  return new binding.CompiledIndex(
    dim,
    'cos',
    hnsw.quantization,
    hnsw.connectivity,
    hnsw.expansionAdd,
    hnsw.expansionSearch,
    false,
  );
}

/** What a graph of `quantization` takes: int8 rows for `i8`, the f32 rows themselves for `f16`. */
export function graphInput(
  vectors: Float32Array,
  dim: number,
  quantization: GraphQuantization,
): Int8Array | Float32Array {
  return quantization === 'i8' ? quantizeInt8(vectors, dim) : vectors;
}

/**
 * Vectors (rows of `dim`) as int8, each scaled so that its largest component is ±127: the
 * cosine between two quantized vectors stays close to the original one.
 */
export function quantizeInt8(
  vectors: Float32Array,
  dim: number,
  out = new Int8Array(vectors.length),
): Int8Array {
  for (let row = 0; row < vectors.length; row += dim) {
    let max = 0;
    for (let i = row; i < row + dim; i++) {
      const a = Math.abs(vectors[i]!);
      if (a > max) max = a;
    }
    const scale = max > 0 ? 127 / max : 0;
    for (let i = row; i < row + dim; i++) out[i] = Math.round(vectors[i]! * scale);
  }
  return out;
}
