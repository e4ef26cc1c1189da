import { Hono } from 'hono';
import { z } from 'zod';
import {
  createImageHistoryQueries,
  decodeHistoryCursor,
  type ImageHistoryItem,
} from '@deeplens/projections/imageHistoryQueries';
import { NotFoundError, ValidationError } from '@deeplens/platform/errors';
import { requireScope, tenantScope } from '@deeplens/platform/http/authenticate';
import { uuidParam } from '@deeplens/platform/http/requestBody';
import type { ReadApiDependencies } from '../readApiDependencies.ts';
import type { ReadApiEnv } from '../readApiEnv.ts';

const historyQuery = z
  .object({
    cursor: z
      .string()
      .max(64)
      .refine((raw) => decodeHistoryCursor(raw) !== undefined, 'not a cursor this API gave out')
      .optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
  })
  .strict();

/** One event of the history as the API shows it. */
export function historyItemView(item: ImageHistoryItem) {
  return { ...item, occurredAt: new Date(item.occurredAt).toISOString() };
}

/**
 * `GET /v1/images/{id}/history`: every event of one of the caller's images, in log order, from
 * the history projection. A deleted image's history stays readable until its tenant is erased;
 * another tenant's image answers 404 as an unknown one does.
 */
export function historyRoutes(deps: ReadApiDependencies) {
  const history = createImageHistoryQueries(deps.pool);
  const app = new Hono<ReadApiEnv>();

  app.get('/v1/images/:id/history', requireScope('images:read'), async (c) => {
    const tenantId = tenantScope(c);
    const imageId = uuidParam(c, 'id');
    const parsed = historyQuery.safeParse(c.req.query());
    if (!parsed.success)
      throw new ValidationError('the query is not valid', {
        detail: { errors: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
      });
    const { cursor, limit } = parsed.data;
    const page = await history.imageHistory(tenantId, imageId, {
      limit,
      ...(cursor === undefined ? {} : { afterVersion: decodeHistoryCursor(cursor) }),
    });
    if (!page) throw new NotFoundError(`no image ${imageId}`);
    return c.json({ imageId, items: page.items.map(historyItemView), nextCursor: page.nextCursor });
  });

  return app;
}
