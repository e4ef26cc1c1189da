import { Hono } from 'hono';
import { z } from 'zod';
import { ValidationError } from '@deeplens/platform/errors';
import { requireScope, tenantScope } from '@deeplens/platform/http/authenticate';
import type { ReadApiDependencies } from '../readApiDependencies.ts';
import type { ReadApiEnv } from '../readApiEnv.ts';

const query = z
  .object({
    threshold: z.coerce.number().min(0.5).max(1).default(0.95),
    /** How many of the tenant's images are scanned (most recent first). */
    limit: z.coerce.number().int().min(2).max(5000).default(1000),
  })
  .strict();

/**
 * Groups of near-duplicates: every indexed image's neighbours above the threshold, joined
 * transitively (union-find), largest groups first. Scans at most `limit` images per request.
 */
export function duplicateRoutes(deps: ReadApiDependencies) {
  const app = new Hono<ReadApiEnv>();
  app.get('/v1/duplicates', requireScope('search'), async (c) => {
    const tenantId = tenantScope(c);
    const parsed = query.safeParse(c.req.query());
    if (!parsed.success)
      throw new ValidationError('the query is not valid', {
        detail: { errors: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
      });
    const { threshold, limit } = parsed.data;
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
    const known = new Set(images.map((i) => i.id));
    for (const image of images) {
      const hits = await deps.vectors.similarTo(tenantId, deps.defaultModel, image.id, { k: 10, threshold });
      for (const hit of hits ?? []) {
        if (!known.has(hit.id)) continue;
        const [a, b] = [find(image.id), find(hit.id)];
        if (a !== b) parent.set(a, b);
      }
    }
    const groups = new Map<string, { imageId: string; filename: string }[]>();
    for (const image of images) {
      const root = find(image.id);
      groups.set(root, [...(groups.get(root) ?? []), { imageId: image.id, filename: image.filename }]);
    }
    const result = [...groups.values()].filter((g) => g.length > 1).sort((a, b) => b.length - a.length);
    return c.json({ threshold, scanned: images.length, groups: result.map((images) => ({ images })) });
  });
  return app;
}
