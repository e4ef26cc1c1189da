import { Hono } from 'hono';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { tenantDecider } from '@deeplens/commands/tenant/tenantDecider';
import type { ImageView } from '@deeplens/projections/metadataQueries';
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
import { storageProblemResponses } from '@deeplens/platform/http/openApiProblems';
import { isStorableText } from '@deeplens/platform/http/requestBody';
import type { ReadApiDependencies } from '../readApiDependencies.ts';
import type { ReadApiEnv } from '../readApiEnv.ts';
import { snapshotHeaders } from './snapshotHeaders.ts';

const imageStatus = z.enum(['uploaded', 'embedded', 'indexed', 'failed']);

/** An image as the API shows it (`components.schemas.Image`). */
export const imageSchema = z
  .object({
    id: z.guid(),
    status: imageStatus.openapi({ description: 'uploaded → embedded → indexed, or failed with a reason' }),
    failure: z.object({ reason: z.string(), retriable: z.boolean() }).nullable(),
    filename: z.string(),
    mime: z.string(),
    bytes: z.number().int(),
    width: z.number().int(),
    height: z.number().int(),
    sha256: z.string(),
    tags: z.array(z.string()),
    attributes: z.record(z.string(), z.string()),
    thumbnailUrl: z.string().nullable(),
    contentUrl: z.string(),
    embeddings: z.array(
      z.object({
        model: z.string().openapi({ description: 'modelId@version' }),
        dim: z.number().int(),
        indexed: z.boolean().openapi({ description: 'whether the vector index holds it' }),
      }),
    ),
    uploadedAt: z.string().datetime(),
    updatedAt: z.string().datetime(),
  })
  .openapi('Image');

/** An image as the API shows it. */
export function imageView(image: ImageView): z.input<typeof imageSchema> {
  return {
    id: image.imageId,
    status: image.status,
    failure: image.failure ? { reason: image.failure.reason, retriable: image.failure.retriable } : null,
    filename: image.filename,
    mime: image.mime,
    bytes: image.bytes,
    width: image.width,
    height: image.height,
    sha256: image.sha256,
    tags: image.tags,
    attributes: image.attributes,
    thumbnailUrl: image.thumbnail ? `/v1/images/${image.imageId}/thumbnail` : null,
    contentUrl: `/v1/images/${image.imageId}/content`,
    embeddings: image.embeddings.map((e) => ({
      model: `${e.modelId}@${e.modelVersion}`,
      dim: e.dim,
      indexed: e.indexedAt !== null,
    })),
    uploadedAt: new Date(image.uploadedAt).toISOString(),
    updatedAt: new Date(image.updatedAt).toISOString(),
  };
}

/**
 * A `nextCursor` as the metadata queries write it: base64url JSON of [uploaded-at ms, image id].
 * Checked here so that anything else is a 400, not an error (or an SQL cast) deeper down.
 */
const maxCursorTime = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function isListCursor(raw: string): boolean {
  try {
    const value: unknown = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
    return (
      Array.isArray(value) &&
      value.length === 2 &&
      Number.isSafeInteger(value[0]) &&
      // An upload time PostgreSQL can hold and we could have written: 1970 to the year 9999.
      value[0] >= 0 &&
      value[0] <= maxCursorTime &&
      typeof value[1] === 'string' &&
      isStorableText(value[1]) &&
      uuidPattern.test(value[1])
    );
  } catch {
    return false;
  }
}

const imageParams = z.object({ id: uuidPathParameter });
/** The routes below take no query parameters: an unknown one is a 400, not silently ignored. */
const noQuery = z.object({}).strict();
const json = <T extends z.ZodTypeAny>(description: string, schema: T) => ({
  description,
  content: { 'application/json': { schema } },
});

/** The contract of each route below: what it validates its request with and answers. */
export const browseContract = {
  listImages: defineRoute({
    method: 'get',
    path: '/v1/images',
    summary: 'List the caller’s images (cursor pagination)',
    request: {
      headers: snapshotHeaders,
      query: z
        .object({
          cursor: z
            .string()
            .max(512)
            .refine(isListCursor, 'not a cursor this API gave out')
            .optional()
            .openapi({ description: 'the previous page’s nextCursor' }),
          limit: numberFromText(z.number().int().min(1).max(500)).default(50),
          tag: z.string().trim().min(1).max(64).refine(isStorableText, 'a tag holds no U+0000').optional(),
          status: imageStatus.optional(),
        })
        .strict(),
    },
    responses: {
      200: json(
        'A page',
        z.object({ items: z.array(imageSchema), nextCursor: z.string().nullable() }).openapi('ImagePage'),
      ),
      ...problemResponses,
    },
  }),
  getImage: defineRoute({
    method: 'get',
    path: '/v1/images/{id}',
    summary: 'An image: status (uploaded → embedded → indexed, or failed with a reason) and metadata',
    request: { headers: snapshotHeaders, params: imageParams, query: noQuery },
    responses: { 200: json('Image', imageSchema), ...problemResponses },
  }),
  thumbnail: defineRoute({
    method: 'get',
    path: '/v1/images/{id}/thumbnail',
    summary: 'The WebP thumbnail',
    request: { headers: snapshotHeaders, params: imageParams, query: noQuery },
    responses: {
      200: {
        description: 'image/webp',
        content: { 'image/webp': { schema: { type: 'string', format: 'binary' } } },
      },
      ...problemResponses,
      ...storageProblemResponses,
    },
  }),
  content: defineRoute({
    method: 'get',
    path: '/v1/images/{id}/content',
    summary: 'The original bytes',
    request: { headers: snapshotHeaders, params: imageParams, query: noQuery },
    responses: {
      200: {
        description: 'The image',
        content: { 'image/*': { schema: { type: 'string', format: 'binary' } } },
      },
      ...problemResponses,
      ...storageProblemResponses,
    },
  }),
  usage: defineRoute({
    method: 'get',
    path: '/v1/tenants/{id}/usage',
    summary: 'Images and bytes stored, with the plan’s limits',
    request: { headers: snapshotHeaders, params: z.object({ id: uuidPathParameter }), query: noQuery },
    responses: {
      200: json(
        'Usage',
        z
          .object({
            tenantId: z.guid(),
            images: z.number().int(),
            bytes: z.number().int(),
            limits: z.object({
              maxImages: z.number().int(),
              maxBytes: z.number().int(),
              maxImageBytes: z.number().int(),
            }),
            plan: z.string(),
          })
          .openapi('Usage'),
      ),
      ...problemResponses,
    },
  }),
};

/** Status, listing, thumbnails and bytes of the caller's images; usage of the caller's tenant. */
export function browseRoutes(deps: ReadApiDependencies) {
  const { metadata } = deps;
  const app = new Hono<ReadApiEnv>();

  async function imageOf(tenantId: string, imageId: string): Promise<ImageView> {
    const image = await metadata.getImage(tenantId, imageId);
    if (!image) throw new NotFoundError(`no image ${imageId}`);
    return image;
  }

  /** Streams an object of the tenant's storage with its content type. */
  async function streamObject(tenantId: string, objectKey: string, mime: string) {
    const tenant = await deps.writeModel.load(tenantDecider, tenantId);
    if (tenant.status === 'initial' || tenant.status === 'deleted')
      throw new NotFoundError(`no tenant ${tenantId}`);
    const storage = deps.storageOf(tenant);
    const stream = await storage.store.get(storage.bucket, objectKey);
    return new Response(Readable.toWeb(stream) as ReadableStream, {
      headers: {
        'content-type': mime,
        'cache-control': 'private, max-age=3600',
        'x-content-type-options': 'nosniff',
      },
    });
  }

  const { listImages, getImage, thumbnail, content, usage } = browseContract;

  app.get('/v1/images', requireScope('images:read'), async (c) => {
    const tenantId = tenantScope(c);
    const query = queryOf(c, listImages.request.query);
    const page = await metadata.listImages(tenantId, query);
    return c.json({ items: page.items.map(imageView), nextCursor: page.nextCursor });
  });

  app.get('/v1/images/:id', requireScope('images:read'), async (c) => {
    const tenantId = tenantScope(c);
    const { id } = paramsOf(c, getImage.request.params);
    queryOf(c, getImage.request.query);
    return c.json(imageView(await imageOf(tenantId, id)));
  });

  app.get('/v1/images/:id/thumbnail', requireScope('images:read'), async (c) => {
    const tenantId = tenantScope(c);
    const { id } = paramsOf(c, thumbnail.request.params);
    queryOf(c, thumbnail.request.query);
    const image = await imageOf(tenantId, id);
    if (!image.thumbnail) throw new NotFoundError(`image ${image.imageId} has no thumbnail yet`);
    return streamObject(tenantId, image.thumbnail.objectKey, image.thumbnail.mime);
  });

  app.get('/v1/images/:id/content', requireScope('images:read'), async (c) => {
    const tenantId = tenantScope(c);
    const { id } = paramsOf(c, content.request.params);
    queryOf(c, content.request.query);
    const image = await imageOf(tenantId, id);
    return streamObject(tenantId, image.objectKey, image.mime);
  });

  app.get('/v1/tenants/:id/usage', requireScope('images:read'), async (c) => {
    const tenantId = tenantScope(c, paramsOf(c, usage.request.params).id);
    queryOf(c, usage.request.query);
    const [stored, tenant] = await Promise.all([metadata.getUsage(tenantId), metadata.getTenant(tenantId)]);
    if (!tenant) throw new NotFoundError(`tenant ${tenantId} not found`);
    const answer: z.input<(typeof usage.responses)[200]['content']['application/json']['schema']> = {
      tenantId,
      images: stored?.images ?? 0,
      bytes: stored?.bytes ?? 0,
      limits: {
        maxImages: tenant.limits.maxImages,
        maxBytes: tenant.limits.maxBytes,
        maxImageBytes: tenant.limits.maxImageBytes,
      },
      plan: tenant.plan,
    };
    return c.json(answer);
  });

  return app;
}
