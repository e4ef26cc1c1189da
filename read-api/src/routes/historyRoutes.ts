import { Hono } from 'hono';
import { z } from 'zod';
import {
  createImageHistoryQueries,
  decodeHistoryCursor,
  type ImageHistoryItem,
} from '@deeplens/projections/imageHistoryQueries';
import { NotFoundError } from '@deeplens/platform/errors';
import { requireScope, tenantScope } from '@deeplens/platform/http/authenticate';
import {
  defineRoute,
  numberFromText,
  paramsOf,
  problemResponses,
  queryOf,
  uuidPathParameter,
} from '@deeplens/platform/http/openApiRegistry';
import type { ReadApiDependencies } from '../readApiDependencies.ts';
import type { ReadApiEnv } from '../readApiEnv.ts';
import { snapshotHeaders } from './snapshotHeaders.ts';

const historyStatuses = ['uploaded', 'embedded', 'failed', 'deleted'] as const;
// JSON Schema's `enum` must list null too, or a null `before` would not validate.
const historyStatus = z
  .enum(historyStatuses)
  .nullable()
  .openapi({ enum: [...historyStatuses, null] });
/** A field an event changed, before and after. */
const change = <T extends z.ZodTypeAny>(value: T) => z.object({ before: value, after: value });

/** One event of an image's history as the API shows it (`components.schemas.ImageHistoryEvent`). */
const historyEventSchema = z
  .object({
    version: z
      .number()
      .int()
      .openapi({ description: 'the image’s version after the event: 1, 2, 3 … in log order' }),
    eventId: z.string(),
    type: z.enum([
      'ImageUploaded',
      'ImageEmbedded',
      'ImageEmbeddingFailed',
      'ThumbnailGenerated',
      'ImageMetadataUpdated',
      'ImageDeleted',
    ]),
    occurredAt: z.string().datetime(),
    actor: z.object({
      kind: z.enum(['user', 'apiKey', 'intake', 'system']),
      id: z
        .string()
        .nullable()
        .openapi({ description: 'the user, API key or intake key id; the process for system (embedder, …)' }),
    }),
    correlationId: z
      .string()
      .openapi({ description: 'the X-Request-Id of the request, or the intake requestId' }),
    causationId: z.string().nullable(),
    changes: z
      .object({
        status: change(historyStatus).openapi('HistoryStatusChange').optional(),
        tags: change(z.array(z.string()).nullable()).openapi('HistoryTagsChange').optional(),
        attributes: change(z.record(z.string(), z.string()).nullable())
          .openapi('HistoryAttributesChange')
          .optional(),
      })
      .openapi({ description: 'only what the event changed, each as before and after' }),
    details: z.record(z.string(), z.unknown()).openapi({
      description:
        'what the event says besides: the upload’s filename, mime, bytes, width, height, sha256 and source; an embedding’s model (id@version), dim and perceptualHash (never the vector); a failure’s model, reason and retriable; a thumbnail’s width, height and mime; a deletion’s bytes',
    }),
    logPosition: z.string().openapi({ description: 'topic:partition:offset of the event in Kafka' }),
  })
  .openapi('ImageHistoryEvent');

/** The contract of the route below: what it validates its request with and answers. */
export const historyContract = {
  history: defineRoute({
    method: 'get',
    path: '/v1/images/{id}/history',
    summary: 'Every event of an image in log order: who, when, the correlation id and what changed',
    description:
      'Served from the history projection. A deleted image keeps its history until its tenant is erased; another tenant’s image answers 404 as an unknown one does. Costs one request unit, like a listing.',
    request: {
      headers: snapshotHeaders,
      params: z.object({ id: uuidPathParameter }),
      query: z
        .object({
          cursor: z
            .string()
            .max(64)
            .refine((raw) => decodeHistoryCursor(raw) !== undefined, 'not a cursor this API gave out')
            .optional()
            .openapi({ description: 'the previous page’s nextCursor' }),
          limit: numberFromText(z.number().int().min(1).max(500)).default(50),
        })
        .strict(),
    },
    responses: {
      200: {
        description: 'A page of the history',
        content: {
          'application/json': {
            schema: z
              .object({
                imageId: z.guid(),
                items: z.array(historyEventSchema),
                nextCursor: z.string().nullable(),
              })
              .openapi('ImageHistoryPage'),
          },
        },
      },
      ...problemResponses,
    },
  }),
};
type HistoryPageView = z.input<
  (typeof historyContract.history.responses)[200]['content']['application/json']['schema']
>;

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
    const { id: imageId } = paramsOf(c, historyContract.history.request.params);
    const { cursor, limit } = queryOf(c, historyContract.history.request.query);
    const page = await history.imageHistory(tenantId, imageId, {
      limit,
      ...(cursor === undefined ? {} : { afterVersion: decodeHistoryCursor(cursor) }),
    });
    if (!page) throw new NotFoundError(`no image ${imageId}`);
    const answer: HistoryPageView = {
      imageId,
      items: page.items.map(historyItemView) as HistoryPageView['items'],
      nextCursor: page.nextCursor,
    };
    return c.json(answer);
  });

  return app;
}
