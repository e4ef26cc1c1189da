/**
 * Near-duplicate retrieval quality of an embedding model: every edited copy of every original is
 * a query against the originals; a hit is when its nearest original (cosine) is its own.
 */
import type { EmbeddingModel } from './onnxEmbeddingModel.ts';
import type { NearDuplicateEdit } from './nearDuplicateEdits.ts';
import { nearDuplicateEdits } from './nearDuplicateEdits.ts';

export interface NearDuplicateRetrieval {
  queries: number;
  top1: number;
  /** Top-1 rate per edit name. */
  perEdit: Record<string, number>;
  misses: { original: string; edit: string; nearest: string }[];
}

export interface NamedImage {
  name: string;
  bytes: Uint8Array;
}

export async function measureNearDuplicateRetrieval(
  model: EmbeddingModel,
  originals: readonly NamedImage[],
  edits: readonly NearDuplicateEdit[] = nearDuplicateEdits,
): Promise<NearDuplicateRetrieval> {
  const index = await model.embed(originals.map((o) => o.bytes));
  const misses: NearDuplicateRetrieval['misses'] = [];
  const perEdit: Record<string, number> = {};
  let hits = 0;
  for (const edit of edits) {
    const queries = await Promise.all(originals.map((o) => edit.apply(o.bytes)));
    const vectors = await model.embed(queries);
    let editHits = 0;
    vectors.forEach((query, i) => {
      const nearest = nearestIndex(query, index);
      if (nearest === i) editHits++;
      else
        misses.push({
          original: originals[i]?.name ?? '',
          edit: edit.name,
          nearest: originals[nearest]?.name ?? '',
        });
    });
    perEdit[edit.name] = editHits / originals.length;
    hits += editHits;
  }
  const queries = originals.length * edits.length;
  return { queries, top1: hits / queries, perEdit, misses };
}

function nearestIndex(query: Float32Array, index: readonly Float32Array[]): number {
  let best = -1;
  let bestScore = -Infinity;
  index.forEach((vector, i) => {
    let dot = 0;
    for (let d = 0; d < vector.length; d++) dot += (vector[d] ?? 0) * (query[d] ?? 0);
    if (dot > bestScore) {
      bestScore = dot;
      best = i;
    }
  });
  return best;
}
