import { Hono } from 'hono';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { z } from 'zod';
import { imageDecider, largestImageBytes } from '@deeplens/commands/image/imageDecider';
import { tenantDecider } from '@deeplens/commands/tenant/tenantDecider';
import type { ProvisionedTenant } from '@deeplens/commands/tenant/tenantState';
import { createCommitQueue } from '@deeplens/commands/commandHandler';
import { imageAggregate } from '@deeplens/commands/writeModelRules';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '@deeplens/platform/errors';
import { requireScope } from '@deeplens/platform/http/authenticate';
import { deterministicUuid, randomUUID } from '@deeplens/platform/ids';
import {
  inspectImage,
  supportedImageTypes,
  type InspectedImage,
} from '@deeplens/platform/images/inspectImage';
import { sha256Hex } from '@deeplens/platform/objectStore';
import type { Context } from 'hono';
import { commandOrigin } from '../commandOrigin.ts';
import { releaseImageBytes } from '../imageBytesRelease.ts';
import { defaultUploadLimits, receiveUpload } from '@deeplens/platform/http/receiveUpload';
import { assertNoPrototypeKeys, assertStorableText, jsonBody } from '@deeplens/platform/http/requestBody';
import { storageProblemResponses } from '@deeplens/platform/http/openApiProblems';
import {
  defineRoute,
  issuesOf,
  issueWording,
  paramsOf,
  uuidPathParameter,
} from '@deeplens/platform/http/openApiRegistry';
import { createTenantStorageResolver } from '@deeplens/platform/tenantStorage';
import type { WriteApiDependencies } from '../writeApiDependencies.ts';
import type { WriteApiEnv } from '../writeApiEnv.ts';
import {
  bodyOf,
  commandProblems,
  idempotencyKeyParameter,
  jsonContent,
  jsonRequest,
  locationHeader,
} from './commandContract.ts';

const tag = z.string().trim().min(1).max(64);
const tags = z.array(tag).max(32);
const attributes = z
  .record(z.string().min(1).max(64), z.string().max(256))
  .refine((a) => Object.keys(a).length <= 32, 'at most 32 attributes');
const patchBody = z.object({ tags: tags.optional(), attributes: attributes.optional() }).strict();

/** The multipart form of an upload; its parts are read by `receiveUpload` and `parseUploadFields`. */
const uploadForm = z
  .object({
    file: z.array(z.string().openapi({ type: 'string', format: 'binary' })).min(1),
    tags: z.string().optional().openapi({ description: 'JSON array or comma-separated list' }),
    attributes: z.string().optional().openapi({ description: 'JSON object of string values' }),
  })
  .strict();

const acceptedImagesAnswer = z
  .object({
    images: z.array(
      z
        .object({
          id: z.guid(),
          status: z.literal('uploaded'),
          filename: z.string(),
          mime: z.enum(supportedImageTypes),
          bytes: z.number().int(),
          width: z.number().int(),
          height: z.number().int(),
          sha256: z.string(),
          tags: z.array(z.string()),
          attributes: z.record(z.string(), z.string()),
          location: z.string(),
        })
        .strict(),
    ),
  })
  .strict()
  .openapi('AcceptedImages');

const updatedImageAnswer = z
  .object({
    id: z.guid(),
    tags: z.array(z.string()),
    attributes: z.record(z.string(), z.string()),
    version: z.number().int(),
  })
  .strict();

const deletedImageAnswer = z.object({ id: z.guid(), status: z.literal('deleted') }).strict();

const imageParams = z.object({ id: uuidPathParameter });

/** Images (the caller's tenant's): what each route takes and answers. */
export const imageContract = {
  upload: defineRoute({
    method: 'post',
    path: '/v1/images',
    summary: 'Upload one or many images (202: accepted; embedding follows)',
    parameters: [idempotencyKeyParameter],
    request: { body: { required: true, content: { 'multipart/form-data': { schema: uploadForm } } } },
    responses: {
      202: { description: 'Accepted', headers: locationHeader, ...jsonContent(acceptedImagesAnswer) },
      ...commandProblems,
      ...storageProblemResponses,
    },
  }),
  update: defineRoute({
    method: 'patch',
    path: '/v1/images/{id}',
    summary: 'Replace tags and/or attributes',
    parameters: [idempotencyKeyParameter],
    request: { params: imageParams, body: jsonRequest(patchBody) },
    responses: { 200: { description: 'Updated', ...jsonContent(updatedImageAnswer) }, ...commandProblems },
  }),
  delete: defineRoute({
    method: 'delete',
    path: '/v1/images/{id}',
    summary: 'Delete an image',
    parameters: [idempotencyKeyParameter],
    request: { params: imageParams },
    responses: {
      202: { description: 'Deletion accepted', ...jsonContent(deletedImageAnswer) },
      ...commandProblems,
    },
  }),
};

/**
 * The text fields of an upload checked against the documented form (its `file` parts aside):
 * `tags` as a JSON array or a comma-separated list, `attributes` as a JSON object.
 */
function parseUploadFields(fields: Map<string, string>) {
  const form = uploadForm.omit({ file: true }).safeParse(Object.fromEntries(fields), { error: issueWording });
  if (!form.success)
    throw new ValidationError('the form is not valid', {
      detail: {
        errors: issuesOf(form.error),
        allowed: ['file', 'tags', 'attributes'],
      },
    });
  const parseJson = (name: string, raw: string): unknown => {
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      throw new ValidationError(`${name} is not valid JSON`);
    }
    // `{"__proto__": …}` would otherwise be dropped without a word.
    assertNoPrototypeKeys(value, name);
    return value;
  };
  const rawTags = fields.get('tags');
  const tagValue =
    rawTags === undefined
      ? []
      : rawTags.trim().startsWith('[')
        ? parseJson('tags', rawTags)
        : rawTags
            .split(',')
            .map((t) => t.trim())
            .filter(Boolean);
  const rawAttributes = fields.get('attributes');
  const attributeValue = rawAttributes === undefined ? {} : parseJson('attributes', rawAttributes);
  const parsedTags = tags.safeParse(tagValue, { error: issueWording });
  if (!parsedTags.success)
    throw new ValidationError('tags are not valid', {
      detail: { errors: parsedTags.error.issues.map((i) => i.message) },
    });
  const parsedAttributes = attributes.safeParse(attributeValue, { error: issueWording });
  if (!parsedAttributes.success) {
    throw new ValidationError('attributes are not valid', {
      detail: { errors: parsedAttributes.error.issues.map((i) => i.message) },
    });
  }
  assertStorableText(parsedTags.data, 'tags');
  assertStorableText(parsedAttributes.data, 'attributes');
  return { tags: [...new Set(parsedTags.data)], attributes: parsedAttributes.data };
}

/** Upload (202), retag, delete. Every image belongs to the caller's tenant. */
export function imageRoutes(deps: WriteApiDependencies) {
  const { handler, pool, config } = deps;
  const storageOf = createTenantStorageResolver(config, deps.objects, deps.secrets);
  const readyBuckets = new Set<string>();
  // Uploads that arrive while others are being stored share the next transaction (one WAL flush
  // for several 202s); each request is still accepted or refused whole, by itself.
  const uploadCommits = createCommitQueue(handler, imageAggregate);
  const app = new Hono<WriteApiEnv>();

  async function callerTenant(c: Context<WriteApiEnv>): Promise<ProvisionedTenant> {
    const { tenantId } = c.get('principal');
    if (!tenantId)
      throw new ForbiddenError('images belong to a tenant: sign in as a tenant user or use a tenant API key');
    // Loaded once per request, by the rate limit in front of every route.
    const tenant = c.get('callerTenant') ?? (await handler.load(tenantDecider, tenantId));
    if (tenant.status === 'initial' || tenant.status === 'deleted')
      throw new NotFoundError(`no tenant ${tenantId}`);
    return tenant;
  }

  app.post('/', requireScope('images:write'), async (c) => {
    const tenant = await callerTenant(c);
    if (tenant.status === 'suspended')
      throw new ConflictError('the tenant is suspended and accepts no uploads');
    const { limits } = tenant;
    // The size of an image is the decider's rule; a file over it is cut off while it streams in.
    const upload = await receiveUpload(
      c.req.header('content-type'),
      c.req.raw.body as WebReadableStream<Uint8Array> | null,
      { ...defaultUploadLimits, maxFileBytes: largestImageBytes(tenant) },
    );
    if (upload.files.length === 0)
      throw new ValidationError('no image in the request: send one or more file parts');
    const meta = parseUploadFields(upload.fields);

    // Every image is checked before anything is stored: a refusal leaves no trace.
    const inspected: (InspectedImage & { sha256: string })[] = [];
    for (const [index, file] of upload.files.entries()) {
      try {
        inspected.push({
          // Its size was checked by the cut-off above (the decider's rule): not once more here.
          ...(await inspectImage(file.bytes, {
            maxBytes: Number.POSITIVE_INFINITY,
            maxPixels: config.IMAGE_MAX_PIXELS,
          })),
          sha256: sha256Hex(file.bytes),
        });
      } catch (error) {
        if (error instanceof Error && 'detail' in error)
          Object.assign(error, {
            detail: { ...(error as { detail?: object }).detail, file: file.filename, index },
          });
        throw error;
      }
    }
    const storage = storageOf(tenant);
    if (!readyBuckets.has(storage.bucket)) {
      await storage.store.ensureBucket(storage.bucket);
      readyBuckets.add(storage.bucket);
    }
    const key = c.get('idempotencyKey');
    const uploads = upload.files.map((file, index) => {
      const image = inspected[index]!;
      const imageId = key
        ? deterministicUuid('image', c.get('principal').actor, key, String(index))
        : randomUUID();
      return { file, image, imageId, objectKey: storage.keyOf(image.sha256) };
    });
    // Bytes first, then the events: an event never names an object that is not there.
    for (const { file, image, objectKey } of uploads)
      await storage.store.put(storage.bucket, objectKey, file.bytes, image.mime);
    // All images of the request in one transaction (shared with the uploads queued meanwhile):
    // the tenant's quota is counted once, for the request's total, and a refusal stores none.
    try {
      const results = await uploadCommits.submit(
        uploads.map(({ file, image, imageId, objectKey }, index) => ({
          request: {
            type: 'UploadImage' as const,
            data: {
              tenantId: tenant.tenantId,
              imageId,
              objectKey,
              sha256: image.sha256,
              mime: image.mime,
              bytes: file.bytes.length,
              width: image.width,
              height: image.height,
              filename: file.filename,
              tags: meta.tags,
              attributes: meta.attributes,
              source: 'http' as const,
              tenant: { status: tenant.status, limits },
            },
          },
          origin: commandOrigin(c, index),
        })),
      );
      const refused = results.find((r) => r.status === 'rejected');
      if (refused) throw refused.reason;
    } catch (error) {
      // Refused: the bytes go unless the tenant still needs them (`releaseImageBytes`: an upload
      // of the same bytes that commits meanwhile keeps them; one that commits later finds them
      // gone and puts them back itself, below). A failed release leaves them, and the refusal
      // is still the answer.
      for (const sha256 of new Set(uploads.map((u) => u.image.sha256)))
        await releaseImageBytes({ pool, storage, tenantId: tenant.tenantId, sha256 }).catch(
          (failure: unknown) =>
            deps.log.warn('the bytes of a refused upload could not be released', { sha256, error: failure }),
        );
      throw error;
    }
    // Committed: a refused upload of the same bytes may have deleted them between our put and our
    // commit, having looked before we committed; then they are put back here.
    for (const { file, image, objectKey } of uploads)
      if (!(await storage.store.stat(storage.bucket, objectKey)))
        await storage.store.put(storage.bucket, objectKey, file.bytes, image.mime);
    const accepted: z.input<typeof acceptedImagesAnswer>['images'] = uploads.map(
      ({ file, image, imageId }) => ({
        id: imageId,
        status: 'uploaded',
        filename: file.filename,
        mime: image.mime,
        bytes: file.bytes.length,
        width: image.width,
        height: image.height,
        sha256: image.sha256,
        tags: meta.tags,
        attributes: meta.attributes,
        location: `/v1/images/${imageId}`,
      }),
    );
    c.header('location', accepted[0]!.location);
    return c.json({ images: accepted }, 202);
  });

  app.patch('/:id', requireScope('images:write'), async (c) => {
    const tenant = await callerTenant(c);
    const { id: imageId } = paramsOf(c, imageContract.update.request.params);
    const body = await jsonBody(c, bodyOf(imageContract.update));
    if (body.tags === undefined && body.attributes === undefined)
      throw new ValidationError('give tags, attributes or both');
    const result = await handler.handle(
      imageAggregate,
      { type: 'UpdateImageMetadata', data: { tenantId: tenant.tenantId, imageId, ...body } },
      commandOrigin(c),
    );
    const state = await handler.load(imageDecider, imageId);
    if (state.status === 'initial') throw new NotFoundError(`no image ${imageId}`);
    return c.json({
      id: imageId,
      tags: state.tags,
      attributes: state.attributes,
      version: result.version,
    } satisfies z.input<typeof updatedImageAnswer>);
  });

  app.delete('/:id', requireScope('images:write'), async (c) => {
    const tenant = await callerTenant(c);
    const { id: imageId } = paramsOf(c, imageContract.delete.request.params);
    await handler.handle(
      imageAggregate,
      { type: 'DeleteImage', data: { tenantId: tenant.tenantId, imageId } },
      commandOrigin(c),
    );
    return c.json({ id: imageId, status: 'deleted' } satisfies z.input<typeof deletedImageAnswer>, 202);
  });

  return app;
}
