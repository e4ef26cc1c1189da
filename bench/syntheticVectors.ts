/**
 * Synthetic 1792-d unit vectors for the vector benchmarks (`search.ts`, `scaling.ts`), from a
 * fixed seed so every run searches the same ones.
 */
export const dim = 1792;

export type Distribution = 'clustered' | 'random';

/** mulberry32: a small seeded PRNG. */
export function prng(seed: number) {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  let spare: number | undefined;
  const gaussian = () => {
    if (spare !== undefined) {
      const value = spare;
      spare = undefined;
      return value;
    }
    const r = Math.sqrt(-2 * Math.log(1 - uniform()));
    const theta = 2 * Math.PI * uniform();
    spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  };
  return { uniform, gaussian };
}

/**
 * Unit vectors, row after row, `next(n)` rows at a time. `random`: uniform on the sphere (the
 * hardest case for a graph index: every distance alike). `clustered`: like a CNN's pooled
 * features — non-negative (ReLU), a low intrinsic dimension (a 64-d latent space with 1 000
 * clusters mapped linearly to 1792-d) plus 10% noise; unrelated vectors have cosine ≈ 0.3, as
 * MobileNet descriptors do.
 */
export function vectorSource(distribution: Distribution) {
  const { gaussian, uniform } = prng(distribution === 'random' ? 1 : 2);
  const latent = 64;
  const clusters = 1000;
  const mixing = Float32Array.from({ length: dim * latent }, gaussian);
  const centres = Float32Array.from({ length: clusters * latent }, gaussian);
  const z = new Float32Array(latent);
  const noise = Math.sqrt(0.1 * latent * 1.25);
  return {
    next(n: number): Float32Array {
      const out = new Float32Array(n * dim);
      for (let row = 0; row < n; row++) {
        const v = out.subarray(row * dim, (row + 1) * dim);
        if (distribution === 'random') {
          for (let j = 0; j < dim; j++) v[j] = gaussian();
        } else {
          const c = Math.floor(uniform() * clusters) * latent;
          for (let j = 0; j < latent; j++) z[j] = centres[c + j]! + 0.5 * gaussian();
          for (let i = 0; i < dim; i++) {
            let x = noise * gaussian();
            const w = i * latent;
            for (let j = 0; j < latent; j++) x += mixing[w + j]! * z[j]!;
            v[i] = x > 0 ? x : 0;
          }
        }
        let norm = 0;
        for (let j = 0; j < dim; j++) norm += v[j]! * v[j]!;
        const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
        for (let j = 0; j < dim; j++) v[j] = v[j]! * scale;
      }
      return out;
    },
  };
}
