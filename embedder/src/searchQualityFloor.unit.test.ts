import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildDefaultModel } from './buildDefaultModel.ts';
import { userEdits } from './nearDuplicateEdits.ts';
import { decodeLocalFeatures, verifyGeometry } from './localFeatures.ts';
import {
  defaultFusion,
  defaultVerificationRanking,
  fuseNearDuplicateRanking,
  promoteVerified,
} from './nearDuplicateRanking.ts';
import { type ImageDescription, loadEmbeddingModel } from './onnxEmbeddingModel.ts';

const photos = join(import.meta.dirname, '..', 'fixtures', 'photos');

/**
 * Measured on these 21 photos × 13 edits with the default model, descriptor v2 (GeM + learned
 * whitening, 512-d): descriptor alone 99.6% top-1 (v1, the average, had 94.5%), fused with the
 * perceptual hash 100%, and with geometric verification on top 100% (273 of 273), MRR 1.000, no
 * wrong picture verified (bench/quality.ts measures the 237-picture development set). Most of
 * these photos (about 15 of 21) are also dev-set originals the whitening was fitted on, so the
 * descriptor floor guards against a regression, not the held-out quality. The floors allow two
 * misses of 273 for the whole pipeline, five for the descriptor alone.
 */
const FUSED_TOP1_FLOOR = 0.99;
const FUSED_MRR_FLOOR = 0.99;
const DESCRIPTOR_TOP1_FLOOR = 0.98;

async function describeAll(
  model: Awaited<ReturnType<typeof loadEmbeddingModel>>,
  images: readonly Uint8Array[],
): Promise<ImageDescription[]> {
  return (await model.describeSettled(images, { localFeatures: true })).map((d) => {
    if (d instanceof Error) throw d;
    return d;
  });
}

describe('search quality floor (fixture photos × every user edit class)', () => {
  it(`finds the original first for ≥ ${FUSED_TOP1_FLOOR * 100}% of edited copies with the production descriptor + hash fusion + geometric verification`, async (t) => {
    const model = await loadEmbeddingModel((await buildDefaultModel()).manifest, { intraOpThreads: 1 });
    t.after(() => model.close());
    const names = (await readdir(photos)).filter((f) => f.endsWith('.jpg')).sort();
    const originals = await Promise.all(names.map((name) => readFile(join(photos, name))));
    const index = await describeAll(model, originals);

    const indexFeatures = index.map((d) => decodeLocalFeatures(d.localFeatures));
    const ranks = { descriptor: [] as number[], hashed: [] as number[], fused: [] as number[] };
    let wrongVerified = 0;
    const perEdit: string[] = [];
    for (const edit of userEdits) {
      const queries = await describeAll(model, await Promise.all(originals.map((o) => edit.apply(o))));
      let editHits = 0;
      queries.forEach((query, own) => {
        const scores = index.map(({ vector }) => vector.reduce((sum, v, d) => sum + v * query.vector[d]!, 0));
        const order = [...scores.keys()].sort((a, b) => scores[b]! - scores[a]! || a - b);
        const hashed = fuseNearDuplicateRanking(
          query.perceptualHash,
          order.map((i) => ({ i, perceptualHash: index[i]!.perceptualHash })),
          defaultFusion,
        );
        const queryFeatures = decodeLocalFeatures(query.localFeatures);
        assert.ok(queryFeatures, 'the query has local features');
        const verified = promoteVerified(
          hashed,
          (c) => {
            const stored = indexFeatures[c.i];
            return stored ? verifyGeometry(queryFeatures, stored) : null;
          },
          defaultVerificationRanking,
        );
        if (verified[0]?.verified && verified[0].i !== own) wrongVerified++;
        const fused = verified.map((c) => c.i);
        ranks.descriptor.push(order.indexOf(own));
        ranks.hashed.push(hashed.findIndex((c) => c.i === own));
        ranks.fused.push(fused.indexOf(own));
        if (fused[0] === own) editHits++;
      });
      perEdit.push(`${edit.name} ${editHits}/${originals.length}`);
    }
    const top1 = (r: number[]) => r.filter((x) => x === 0).length / r.length;
    const mrr = (r: number[]) => r.reduce((sum, x) => sum + 1 / (x + 1), 0) / r.length;
    t.diagnostic(
      `${ranks.fused.length} queries: descriptor alone top-1 ${(top1(ranks.descriptor) * 100).toFixed(1)}%, ` +
        `+ hash ${(top1(ranks.hashed) * 100).toFixed(1)}%, + verification ${(top1(ranks.fused) * 100).toFixed(1)}% ` +
        `(MRR ${mrr(ranks.fused).toFixed(3)}, ${wrongVerified} wrong verified); ${perEdit.join(', ')}`,
    );
    assert.ok(top1(ranks.fused) >= FUSED_TOP1_FLOOR, `fused top-1 ${top1(ranks.fused)}`);
    assert.ok(
      top1(ranks.descriptor) >= DESCRIPTOR_TOP1_FLOOR,
      `descriptor alone top-1 ${top1(ranks.descriptor)}`,
    );
    assert.ok(mrr(ranks.fused) >= FUSED_MRR_FLOOR, `fused MRR ${mrr(ranks.fused)}`);
    assert.ok(top1(ranks.fused) >= top1(ranks.descriptor), 'the fusion never loses to the descriptor alone');
    assert.ok(top1(ranks.fused) >= top1(ranks.hashed), 'verification never loses to the hash fusion alone');
    assert.equal(wrongVerified, 0, 'no wrong picture is verified first');
  });
});
