import { Index, MetricKind, ScalarKind } from 'usearch';
const dim = 1792, n = 10000;
const data = new Float32Array(n * dim);
for (let i = 0; i < data.length; i++) data[i] = Math.random();
const mk = () => new Index({ dimensions: dim, metric: MetricKind.Cos, quantization: ScalarKind.F32, connectivity: 16, expansion_add: 128, expansion_search: 128, multi: false });
for (const mode of ['single', 'batch', 'single']) {
  const idx = mk();
  const t = performance.now();
  if (mode === 'single') for (let i = 0; i < n; i++) idx.add(BigInt(i + 1), data.subarray(i * dim, (i + 1) * dim));
  else idx.add(BigUint64Array.from({ length: n }, (_, i) => BigInt(i + 1)), data);
  console.log(mode, 'insert/s', (n / ((performance.now() - t) / 1000)).toFixed(0), idx.size());
}
