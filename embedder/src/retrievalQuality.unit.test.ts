import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { buildDefaultModel } from './buildDefaultModel.ts';
import type { ModelManifest } from './modelManifest.ts';
import type { NamedImage } from './measureNearDuplicateRetrieval.ts';
import { measureNearDuplicateRetrieval } from './measureNearDuplicateRetrieval.ts';
import { loadEmbeddingModel } from './onnxEmbeddingModel.ts';

const photos = join(import.meta.dirname, '..', 'fixtures', 'photos');

/**
 * Every photo in fixtures/ × 6 edits (25% thumbnail, 75% centre crop, brightness ×1.4, JPEG q15,
 * mirror, 12° rotation) queried against the originals: the nearest original must be its own.
 */
describe('near-duplicate retrieval with the default model', () => {
  let spaces: Record<string, ModelManifest>;
  let originals: NamedImage[];

  before(async () => {
    const built = await buildDefaultModel();
    spaces = {
      'v1 (average, 1792-d)': built.backbone,
      'v2 (GeM + learned whitening, 512-d)': built.manifest,
    };
    const names = (await readdir(photos)).filter((f) => f.endsWith('.jpg')).sort();
    originals = await Promise.all(
      names.map(async (name) => ({ name, bytes: await readFile(join(photos, name)) })),
    );
  });

  for (const space of ['v1 (average, 1792-d)', 'v2 (GeM + learned whitening, 512-d)']) {
    it(`finds the original of ≥ 95% of edited copies (${space})`, async (t) => {
      const model = await loadEmbeddingModel(spaces[space]!, { intraOpThreads: 1 });
      t.after(() => model.close());
      assert.ok(originals.length >= 10, 'enough distinct photos');
      const result = await measureNearDuplicateRetrieval(model, originals);
      const perEdit = Object.entries(result.perEdit).map(
        ([edit, rate]) => `${edit} ${(rate * 100).toFixed(0)}%`,
      );
      t.diagnostic(
        `${space}: top-1 ${(result.top1 * 100).toFixed(1)}% of ${result.queries} queries ` +
          `(${originals.length} photos); ${perEdit.join(', ')}`,
      );
      for (const miss of result.misses)
        t.diagnostic(`miss: ${miss.edit} of ${miss.original} → ${miss.nearest}`);
      assert.ok(result.top1 >= 0.95, `top-1 ${result.top1}`);
    });
  }
});
