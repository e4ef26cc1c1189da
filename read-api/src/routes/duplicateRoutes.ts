import { Hono } from 'hono';
import { z } from 'zod';
import { duplicateThresholdFor } from '@deeplens/embedder/duplicateThresholds';
import { decodeLocalFeatures, type LocalFeatures, verifyGeometry } from '@deeplens/embedder/localFeatures';
import { defaultVerificationRanking } from '@deeplens/embedder/nearDuplicateRanking';
import { requireScope, tenantScope } from '@deeplens/platform/http/authenticate';
import {
  defineRoute,
  numberFromText,
  problemResponses,
  queryOf,
} from '@deeplens/platform/http/openApiRegistry';
import type { ReadApiDependencies } from '../readApiDependencies.ts';
import type { ReadApiEnv } from '../readApiEnv.ts';
import { snapshotHeaders } from './snapshotHeaders.ts';

const matchSchema = z.enum(['verified', 'descriptor']);

/** The contract of the route below: what it validates its request with and answers. */
export const duplicateContract = {
  duplicates: defineRoute({
    method: 'get',
    path: '/v1/duplicates',
    summary: 'Groups of near-duplicate images',
    description:
      "Scans the tenant's most recent `limit` indexed images; each image's 10 nearest neighbours join its group when " +
      'the pair passes `match`. `verified` (default): geometric verification with the stored local features confirms ' +
      'the pair (≥ 15 inliers, as search), or its descriptor similarity is ≥ `threshold` (a mirrored copy does not ' +
      'verify); `descriptor`: the descriptor similarity alone, ≥ `threshold`. `threshold` defaults to the embedding ' +
      "space's measured value (0.90 for descriptor v2, 0.95 for v1). Cost per scanned image: one vector query, at most " +
      'one metadata read and 10 verifications (each a few milliseconds of CPU).',
    request: {
      headers: snapshotHeaders,
      query: z
        .object({
          /**
           * `verified` (the default): a pair joins a group when geometric verification confirms it
           * (≥ 15 inliers, as search verifies) or its descriptor similarity is ≥ `threshold`;
           * `descriptor`: by the descriptor similarity alone.
           */
          match: matchSchema.default('verified'),
          /** Default: the embedding space's measured threshold (embedder/src/duplicateThresholds.ts). */
          threshold: numberFromText(z.number().min(0.5).max(1)).optional(),
          /** How many of the tenant's images are scanned (most recent first). */
          limit: numberFromText(z.number().int().min(2).max(5000)).default(1000),
        })
        .strict(),
    },
    responses: {
      200: {
        description: 'Groups',
        content: {
          'application/json': {
            schema: z
              .object({
                match: matchSchema,
                threshold: z.number().openapi({ description: 'the threshold applied' }),
                scanned: z.number().int().openapi({ description: 'images scanned' }),
                groups: z.array(
                  z.object({
                    images: z.array(z.object({ imageId: z.guid(), filename: z.string() })),
                  }),
                ),
              })
              .openapi('DuplicateGroups'),
          },
        },
      },
      ...problemResponses,
    },
  }),
};
type DuplicateGroupsView = z.input<
  (typeof duplicateContract.duplicates.responses)[200]['content']['application/json']['schema']
>;

/** The neighbours of each image compared: the descriptor's top 10, as search verifies its top 10. */
const NEIGHBOURS = defaultVerificationRanking.depth;

/**
 * Groups of near-duplicates: every scanned image's nearest neighbours that pass the match rule,
 * joined transitively (union-find), largest groups first. Scans at most `limit` images per
 * request; per image one vector query, one metadata query (its neighbours' local features) and
 * at most 10 geometric verifications (each pair once).
 */
export function duplicateRoutes(deps: ReadApiDependencies) {
  const app = new Hono<ReadApiEnv>();
  app.get('/v1/duplicates', requireScope('search'), async (c) => {
    const tenantId = tenantScope(c);
    const query = queryOf(c, duplicateContract.duplicates.request.query);
    const { match, limit } = query;
    const threshold = query.threshold ?? duplicateThresholdFor(deps.defaultModel);
    const images: { id: string; filename: string }[] = [];
    let cursor: string | undefined;
    do {
      const page = await deps.metadata.listImages(tenantId, {
        status: 'indexed',
        limit: Math.min(500, limit - images.length),
        ...(cursor ? { cursor } : {}),
      });
      images.push(...page.items.map((i) => ({ id: i.imageId, filename: i.filename })));
      cursor = page.nextCursor ?? undefined;
    } while (cursor && images.length < limit);

    const parent = new Map<string, string>();
    const find = (id: string): string => {
      let root = id;
      while (parent.get(root) !== undefined && parent.get(root) !== root) root = parent.get(root)!;
      parent.set(id, root);
      return root;
    };
    const join = (x: string, y: string) => {
      const [a, b] = [find(x), find(y)];
      if (a !== b) parent.set(a, b);
    };
    const known = new Set(images.map((i) => i.id));
    const compared = new Set<string>();
    const features = new Map<string, LocalFeatures | null>();
    for (const image of images) {
      const hits = await deps.vectors.similarTo(tenantId, deps.defaultModel, image.id, {
        k: NEIGHBOURS,
        ...(match === 'descriptor' ? { threshold } : {}),
      });
      const neighbours = (hits ?? []).filter((h) => known.has(h.id) && h.id !== image.id);
      if (match === 'descriptor') {
        for (const hit of neighbours) join(image.id, hit.id);
        continue;
      }
      const toVerify = neighbours.filter((h) => {
        if (h.score >= threshold) {
          join(image.id, h.id);
          return false;
        }
        const pair = image.id < h.id ? `${image.id}|${h.id}` : `${h.id}|${image.id}`;
        if (compared.has(pair) || find(image.id) === find(h.id)) return false;
        compared.add(pair);
        return true;
      });
      if (toVerify.length === 0) continue;
      // Bounded memory: at most 2000 decoded feature sets (≈ 18 KiB each) are kept between images.
      if (features.size > 2000) features.clear();
      const missing = [image.id, ...toVerify.map((h) => h.id)].filter((id) => !features.has(id));
      if (missing.length > 0) {
        const rows = await deps.metadata.getSearchHits(tenantId, missing, missing);
        for (const id of missing) features.set(id, decodeLocalFeatures(rows.get(id)?.features));
      }
      const own = features.get(image.id);
      if (!own) continue;
      for (const hit of toVerify) {
        const theirs = features.get(hit.id);
        if (theirs && verifyGeometry(own, theirs) >= defaultVerificationRanking.minInliers)
          join(image.id, hit.id);
      }
    }
    const groups = new Map<string, { imageId: string; filename: string }[]>();
    for (const image of images) {
      const root = find(image.id);
      groups.set(root, [...(groups.get(root) ?? []), { imageId: image.id, filename: image.filename }]);
    }
    const result = [...groups.values()].filter((g) => g.length > 1).sort((a, b) => b.length - a.length);
    const answer: DuplicateGroupsView = {
      match,
      threshold,
      scanned: images.length,
      groups: result.map((images) => ({ images })),
    };
    return c.json(answer);
  });
  return app;
}
