import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildDefaultModel } from './buildDefaultModel.ts';
import { loadEmbeddingModel } from './onnxEmbeddingModel.ts';
import { measureNearDuplicateRetrieval } from './measureNearDuplicateRetrieval.ts';
const dir = 'embedder/fixtures/photos';
const originals = readdirSync(dir).filter((f) => f.endsWith('.jpg')).sort().map((f) => ({ name: f, bytes: readFileSync(join(dir, f)) }));
const { manifest } = await buildDefaultModel();
for (const resize of ['fill', 'cover'] as const) for (const pooling of ['avg', 'gem'] as const) {
  const model = await loadEmbeddingModel({ ...manifest, input: { ...manifest.input, resize } }, { pooling, intraOpThreads: 2 });
  const t = performance.now();
  const r = await measureNearDuplicateRetrieval(model, originals);
  console.log(resize, pooling, r.queries, (r.top1 * 100).toFixed(1), JSON.stringify(r.perEdit), JSON.stringify(r.misses), Math.round(performance.now() - t), 'ms');
  await model.close();
}
