/**
 * How a feature map becomes one descriptor. `avg` is the model's own global average; `gem`
 * (generalised mean, Radenović et al. 2018) with p = 3 leans towards the strongest activations
 * and retrieves edited copies of an image better on the same weights.
 */
export type Pooling = 'avg' | 'gem';

/** The GeM exponent that is standard for retrieval with CNN backbones. */
export const DEFAULT_GEM_P = 3;

const GEM_EPSILON = 1e-6;

/**
 * GeM over the spatial positions of one image's NCHW feature map (`channels × positions` values
 * starting at `offset`): out[c] = (mean over positions of max(x, ε)^p)^(1/p).
 */
export function gemPool(
  featureMap: Float32Array,
  offset: number,
  channels: number,
  positions: number,
  p: number = DEFAULT_GEM_P,
): Float32Array {
  const out = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    const start = offset + c * positions;
    let sum = 0;
    for (let i = 0; i < positions; i++) sum += Math.max(featureMap[start + i] ?? 0, GEM_EPSILON) ** p;
    out[c] = (sum / positions) ** (1 / p);
  }
  return out;
}

/** Scales a vector to unit length in place (a zero vector stays zero) and returns it. */
export function l2Normalize(vector: Float32Array): Float32Array {
  let sum = 0;
  for (const v of vector) sum += v * v;
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let i = 0; i < vector.length; i++) vector[i] = (vector[i] ?? 0) / norm;
  return vector;
}
