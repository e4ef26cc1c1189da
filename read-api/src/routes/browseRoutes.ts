import { Hono } from 'hono';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { tenantDecider } from '@deeplens/commands/tenant/tenantDecider';
import type { ImageView } from '@deeplens/projections/metadataQueries';
import { NotFoundError, ValidationError } from '@deeplens/platform/errors';
import { requireScope, tenantScope } from '@deeplens/platform/http/authenticate';
import { isStorableText, uuidParam } from '@deeplens/platform/http/requestBody';
import type { ReadApiDependencies } from '../readApiDependencies.ts';
import type { ReadApiEnv } from '../readApiEnv.ts';

/** An image as the API shows it. */
export function imageView(image: ImageView) {
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

const listQuery = z
  .object({
    cursor: z.string().max(512).refine(isListCursor, 'not a cursor this API gave out').optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    tag: z.string().trim().min(1).max(64).refine(isStorableText, 'a tag holds no U+0000').optional(),
    status: z.enum(['uploaded', 'embedded', 'indexed', 'failed']).optional(),
  })
  .strict();

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

  app.get('/v1/images', requireScope('images:read'), async (c) => {
    const tenantId = tenantScope(c);
    const parsed = listQuery.safeParse(c.req.query());
    if (!parsed.success)
      throw new ValidationError('the query is not valid', {
        detail: { errors: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
      });
    const page = await metadata.listImages(tenantId, parsed.data);
    return c.json({ items: page.items.map(imageView), nextCursor: page.nextCursor });
  });

  app.get('/v1/images/:id', requireScope('images:read'), async (c) => {
    const tenantId = tenantScope(c);
    return c.json(imageView(await imageOf(tenantId, uuidParam(c, 'id'))));
  });

  app.get('/v1/images/:id/thumbnail', requireScope('images:read'), async (c) => {
    const tenantId = tenantScope(c);
    const image = await imageOf(tenantId, uuidParam(c, 'id'));
    if (!image.thumbnail) throw new NotFoundError(`image ${image.imageId} has no thumbnail yet`);
    return streamObject(tenantId, image.thumbnail.objectKey, image.thumbnail.mime);
  });

  app.get('/v1/images/:id/content', requireScope('images:read'), async (c) => {
    const tenantId = tenantScope(c);
    const image = await imageOf(tenantId, uuidParam(c, 'id'));
    return streamObject(tenantId, image.objectKey, image.mime);
  });

  app.get('/v1/tenants/:id/usage', requireScope('images:read'), async (c) => {
    const tenantId = tenantScope(c, uuidParam(c, 'id'));
    const [usage, tenant] = await Promise.all([metadata.getUsage(tenantId), metadata.getTenant(tenantId)]);
    if (!tenant) throw new NotFoundError(`tenant ${tenantId} not found`);
    return c.json({
      tenantId,
      images: usage?.images ?? 0,
      bytes: usage?.bytes ?? 0,
      limits: {
        maxImages: tenant.limits.maxImages,
        maxBytes: tenant.limits.maxBytes,
        maxImageBytes: tenant.limits.maxImageBytes,
      },
      plan: tenant.plan,
    });
  });

  return app;
}
