/**
 * Descriptor v2 building blocks (issue 15): the regions of a feature map pooled one by one
 * (R-MAC-style, Tolias et al. 2016: square windows of several sizes over the map, so a crop or a
 * framed copy of a picture still meets most of the original's regions), and whitening, a linear
 * map fitted once on a corpus that decorrelates the descriptor's channels and scales down the
 * directions in which copies of one picture differ (Radenović et al. 2018).
 */

import { EigenvalueDecomposition, Matrix } from 'ml-matrix';

export type MapRegion = { x: number; y: number; w: number; h: number };

/**
 * Square windows over an `h × w` map: the whole map, then windows of about 70 %, 55 % and 40 %
 * of the short side at evenly spread positions (2 × 2, 3 × 3 and 3 × 3 of them on 7 × 7).
 */
export function featureMapRegions(h: number, w: number): MapRegion[] {
  const out: MapRegion[] = [{ x: 0, y: 0, w, h }];
  const short = Math.min(h, w);
  for (const [fraction, count] of [
    [0.7, 2],
    [0.55, 3],
    [0.4, 3],
  ] as const) {
    const size = Math.max(1, Math.round(short * fraction));
    const at = (extent: number) => [
      ...new Set(Array.from({ length: count }, (_, i) => Math.round(((extent - size) * i) / (count - 1)))),
    ];
    for (const y of at(h)) for (const x of at(w)) out.push({ x, y, w: size, h: size });
  }
  return out;
}

/**
 * A whitening: `outputDim × inputDim` projection (row-major) applied to `x − mean`; the result is
 * L2-normalised again.
 */
export type Whitening = {
  mean: Float32Array;
  projection: Float32Array;
  inputDim: number;
  outputDim: number;
};

/** `P (x − mean)`, unit length. */
export function applyWhitening(w: Whitening, x: Float32Array): Float32Array {
  const centred = new Float64Array(w.inputDim);
  for (let i = 0; i < w.inputDim; i++) centred[i] = x[i]! - w.mean[i]!;
  const out = new Float32Array(w.outputDim);
  let norm = 0;
  for (let r = 0; r < w.outputDim; r++) {
    let dot = 0;
    const row = r * w.inputDim;
    for (let i = 0; i < w.inputDim; i++) dot += w.projection[row + i]! * centred[i]!;
    out[r] = dot;
    norm += dot * dot;
  }
  norm = Math.sqrt(norm);
  if (norm > 0) for (let r = 0; r < w.outputDim; r++) out[r] = out[r]! / norm;
  return out;
}

/** The mean of `rows` (all of length `dim`). */
function meanOf(rows: readonly ArrayLike<number>[], dim: number): Float64Array {
  const mean = new Float64Array(dim);
  for (const row of rows) for (let i = 0; i < dim; i++) mean[i]! += row[i]!;
  for (let i = 0; i < dim; i++) mean[i] = mean[i]! / Math.max(1, rows.length);
  return mean;
}

/** Σ (x − mean)(x − mean)ᵀ / N as a full `dim × dim` row-major matrix. */
function covariance(
  rows: readonly ArrayLike<number>[],
  dim: number,
  mean: Float64Array | null,
): Float64Array {
  const c = new Float64Array(dim * dim);
  const x = new Float64Array(dim);
  for (const row of rows) {
    for (let i = 0; i < dim; i++) x[i] = row[i]! - (mean ? mean[i]! : 0);
    for (let i = 0; i < dim; i++) {
      const xi = x[i]!;
      if (xi === 0) continue;
      const base = i * dim;
      for (let j = i; j < dim; j++) c[base + j]! += xi * x[j]!;
    }
  }
  const n = Math.max(1, rows.length);
  for (let i = 0; i < dim; i++)
    for (let j = i; j < dim; j++) {
      const v = c[i * dim + j]! / n;
      c[i * dim + j] = v;
      c[j * dim + i] = v;
    }
  return c;
}

/** Eigenvalues (largest first) and eigenvectors (row k is the k-th) of a symmetric matrix. */
function symmetricEigen(c: Float64Array, dim: number): { values: Float64Array; vectors: Float64Array } {
  const rows: number[][] = [];
  for (let i = 0; i < dim; i++) rows.push(Array.from(c.subarray(i * dim, (i + 1) * dim)));
  const evd = new EigenvalueDecomposition(new Matrix(rows), { assumeSymmetric: true });
  const values = evd.realEigenvalues;
  const vectors = evd.eigenvectorMatrix;
  const order = [...values.keys()].sort((a, b) => values[b]! - values[a]!);
  const outValues = new Float64Array(dim);
  const outVectors = new Float64Array(dim * dim);
  order.forEach((k, r) => {
    outValues[r] = Math.max(0, values[k]!);
    for (let i = 0; i < dim; i++) outVectors[r * dim + i] = vectors.get(i, k);
  });
  return { values: outValues, vectors: outVectors };
}

/** `a (m × k) · b (k × n)`, row-major. */
function multiply(a: Float64Array, b: Float64Array, m: number, k: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let p = 0; p < k; p++) {
      const v = a[i * k + p]!;
      if (v === 0) continue;
      const row = i * n;
      const from = p * n;
      for (let j = 0; j < n; j++) out[row + j]! += v * b[from + j]!;
    }
  return out;
}

/** The principal directions of a corpus: what `fitWhitening` starts from. */
export type PcaBasis = { mean: Float64Array; values: Float64Array; vectors: Float64Array; dim: number };

export function pcaBasis(samples: readonly ArrayLike<number>[], dim: number): PcaBasis {
  const mean = meanOf(samples, dim);
  const { values, vectors } = symmetricEigen(covariance(samples, dim, mean), dim);
  return { mean, values, vectors, dim };
}

export type WhiteningFit = {
  /** Output dimensions. */
  outputDim: number;
  /**
   * Added to every eigenvalue before its inverse square root, as a fraction of their mean: keeps
   * the directions a small corpus barely spans from being blown up. Default 0.1.
   */
  shrinkage?: number;
  /**
   * Learned whitening (Radenović et al.): pairs of descriptors of the same picture (an original
   * and an edited copy); first whitens the directions in which copies differ, inside the top
   * `subspace` principal directions, then keeps the corpus's principal directions there.
   * Without pairs: PCA-whitening.
   */
  pairs?: readonly (readonly [ArrayLike<number>, ArrayLike<number>])[];
  subspace?: number;
  /** The corpus descriptors (for the learned whitening's second step). */
  samples?: readonly ArrayLike<number>[];
};

export function fitWhitening(basis: PcaBasis, fit: WhiteningFit): Whitening {
  const { dim } = basis;
  const shrinkage = fit.shrinkage ?? 0.1;
  const meanValue = (values: Float64Array, count: number) =>
    values.subarray(0, count).reduce((s, v) => s + v, 0) / Math.max(1, count);
  if (!fit.pairs) {
    const d = Math.min(fit.outputDim, dim);
    const eps = shrinkage * meanValue(basis.values, d);
    const projection = new Float32Array(d * dim);
    for (let r = 0; r < d; r++) {
      const scale = 1 / Math.sqrt(basis.values[r]! + eps);
      for (let i = 0; i < dim; i++) projection[r * dim + i] = basis.vectors[r * dim + i]! * scale;
    }
    return { mean: Float32Array.from(basis.mean), projection, inputDim: dim, outputDim: d };
  }
  const k = Math.min(fit.subspace ?? 768, dim);
  const b = basis.vectors.subarray(0, k * dim);
  const project = (x: ArrayLike<number>) => {
    const y = new Float64Array(k);
    for (let r = 0; r < k; r++) {
      let dot = 0;
      for (let i = 0; i < dim; i++) dot += b[r * dim + i]! * (x[i]! - basis.mean[i]!);
      y[r] = dot;
    }
    return y;
  };
  const differences = fit.pairs.map(([a, c]) => {
    const ya = project(a);
    const yc = project(c);
    return ya.map((v, i) => v - yc[i]!);
  });
  const s = covariance(differences, k, null);
  const sEigen = symmetricEigen(s, k);
  const sEps = shrinkage * meanValue(sEigen.values, k);
  // S^{-1/2} = U diag(σ^{-1/2}) Uᵀ
  const scaled = new Float64Array(k * k);
  for (let r = 0; r < k; r++) {
    const f = 1 / Math.sqrt(sEigen.values[r]! + sEps);
    for (let i = 0; i < k; i++) scaled[r * k + i] = sEigen.vectors[r * k + i]! * f;
  }
  const ut = new Float64Array(k * k);
  for (let r = 0; r < k; r++) for (let i = 0; i < k; i++) ut[i * k + r] = sEigen.vectors[r * k + i]!;
  const sInvSqrt = multiply(ut, scaled, k, k, k);
  const z = (fit.samples ?? fit.pairs.flatMap(([a, c]) => [a, c])).map((x) => {
    const y = project(x);
    return multiply(sInvSqrt, y, k, k, 1);
  });
  const dEigen = symmetricEigen(covariance(z, k, meanOf(z, k)), k);
  const d = Math.min(fit.outputDim, k);
  const toSubspace = multiply(multiply(dEigen.vectors.subarray(0, d * k), sInvSqrt, d, k, k), b, d, k, dim);
  return {
    mean: Float32Array.from(basis.mean),
    projection: Float32Array.from(toSubspace),
    inputDim: dim,
    outputDim: d,
  };
}

const WHITENING_MAGIC = 0x48574c44; // 'DLWH'
const WHITENING_FORMAT = 1;

/** The artefact file: magic, format, input and output dimensions (u32 LE), mean, projection (f32 LE). */
export function encodeWhitening(w: Whitening): Buffer {
  const out = Buffer.alloc(16 + 4 * (w.inputDim + w.outputDim * w.inputDim));
  out.writeUInt32LE(WHITENING_MAGIC, 0);
  out.writeUInt32LE(WHITENING_FORMAT, 4);
  out.writeUInt32LE(w.inputDim, 8);
  out.writeUInt32LE(w.outputDim, 12);
  Buffer.from(w.mean.buffer, w.mean.byteOffset, w.mean.byteLength).copy(out, 16);
  Buffer.from(w.projection.buffer, w.projection.byteOffset, w.projection.byteLength).copy(
    out,
    16 + 4 * w.inputDim,
  );
  return out;
}

export function decodeWhitening(blob: Uint8Array): Whitening {
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  if (
    blob.length < 16 ||
    view.getUint32(0, true) !== WHITENING_MAGIC ||
    view.getUint32(4, true) !== WHITENING_FORMAT
  )
    throw new Error('not a whitening file (format 1)');
  const inputDim = view.getUint32(8, true);
  const outputDim = view.getUint32(12, true);
  if (blob.length !== 16 + 4 * (inputDim + outputDim * inputDim))
    throw new Error(`whitening file of ${inputDim} → ${outputDim} has ${blob.length} bytes`);
  const floats = new Float32Array(inputDim + outputDim * inputDim);
  new Uint8Array(floats.buffer).set(blob.subarray(16));
  return {
    mean: floats.subarray(0, inputDim),
    projection: floats.subarray(inputDim),
    inputDim,
    outputDim,
  };
}
