import type { Context } from 'hono';
import { Hono } from 'hono';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { z } from 'zod';
import { decodeLocalFeatures, type LocalFeatures, verifyGeometry } from '@deeplens/embedder/localFeatures';
import {
  defaultFusion,
  fuseNearDuplicateRanking,
  promoteVerified,
  type RankedBy,
} from '@deeplens/embedder/nearDuplicateRanking';
import type { SearchHitRow } from '@deeplens/projections/metadataQueries';
import type { ModelRef } from '@deeplens/projections/vectorQueries';
import { NotFoundError, UnprocessableError, ValidationError } from '@deeplens/platform/errors';
import { requireScope, tenantScope } from '@deeplens/platform/http/authenticate';
import { searchLatency, searchResults } from '@deeplens/platform/metrics';
import { inspectImage } from '@deeplens/platform/images/inspectImage';
import { normalizeVector, type VectorHit, type VectorSearchOptions } from '@deeplens/platform/vectorIndex';
import { receiveUpload, defaultUploadLimits, type UploadedFile } from '@deeplens/platform/http/receiveUpload';
import {
  defineRoute,
  issuesOf,
  issueWording,
  numberFromText,
  paramsOf,
  problemResponses,
  queryOf,
  uuidPathParameter,
} from '@deeplens/platform/http/openApiRegistry';
import { jsonBody } from '@deeplens/platform/http/requestBody';
import type { ReadApiDependencies } from '../readApiDependencies.ts';
import type { ReadApiEnv } from '../readApiEnv.ts';
import { snapshotHeaders } from './snapshotHeaders.ts';

const tag = z.string().trim().min(1).max(64);
const filterSchema = z
  .object({
    tags: z.array(tag).max(32).optional(),
    attributes: z.record(z.string().min(1).max(64), z.string().max(256)).optional(),
  })
  .strict()
  .openapi('Filter');
const kSchema = z.number().int().min(1).max(100);
const thresholdSchema = z
  .number()
  .min(-1)
  .max(1)
  .openapi({ description: 'lowest cosine similarity of a hit' });
const modelSchema = z
  .string()
  .regex(/^[\w.-]{1,128}@[\w.-]{1,128}$/, 'modelId@version')
  .openapi({ description: 'modelId@version; the embedder’s model when absent' });
/** `geometric` (the default for a query image or id): verify the top candidates with local features. */
const rerankSchema = z.enum(['geometric', 'none']).openapi({
  default: 'geometric',
  description:
    'geometric: the top candidates of a search by image or id are verified with local features and a verified one is ranked first; none: the descriptor and perceptual hash alone',
});
/** The search options sent as text: multipart fields of a search by upload, query parameters of `similar`. */
const textOptions = {
  k: numberFromText(kSchema).default(10),
  threshold: numberFromText(thresholdSchema).optional(),
  model: modelSchema.optional(),
  rerank: rerankSchema.optional(),
};
type Rerank = 'geometric' | 'none';
/** The smallest normal float32: below it a component loses precision, or becomes 0. */
const float32MinNormal = 2 ** -126;

/**
 * A query vector the index can compare by direction: every component a normal float32 or 0
 * (1e39 becomes Infinity and 1e-40 a denormal when stored as float32), not all zero (a zero
 * vector has no direction, so every score would be 0).
 */
function checkQueryVector(vector: number[], ctx: z.RefinementCtx): void {
  for (const [index, x] of vector.entries()) {
    if (!Number.isFinite(Math.fround(x))) {
      ctx.addIssue({ code: 'custom', path: [index], message: 'too large for float32' });
      return;
    }
    if (x !== 0 && Math.abs(x) < float32MinNormal) {
      ctx.addIssue({ code: 'custom', path: [index], message: 'a denormal float32 (too close to 0)' });
      return;
    }
  }
  if (vector.every((x) => x === 0)) {
    ctx.addIssue({ code: 'custom', message: 'an all-zero vector has no direction to search in' });
  }
}

// JSON sends numbers (or is wrong); text options are converted by `numberFromText`.
const jsonSearch = z
  .object({
    imageId: z.guid().optional(),
    vector: z.array(z.number().finite()).min(1).max(8192).superRefine(checkQueryVector).optional(),
    k: kSchema.default(10),
    threshold: thresholdSchema.optional(),
    filter: filterSchema.optional(),
    model: modelSchema.optional(),
    rerank: rerankSchema.optional(),
  })
  .strict()
  .refine((b) => (b.imageId === undefined) !== (b.vector === undefined), {
    message: 'give exactly one of imageId and vector (or upload a query image)',
  })
  .openapi({ description: 'exactly one of imageId and vector' });

/** The query image of a search by upload: the one file part (not a zod check of its bytes). */
const queryImage = z
  .custom<UploadedFile>((value) => typeof value === 'object' && value !== null && 'bytes' in value)
  .openapi({ type: 'string', format: 'binary' });
const multipartSearch = z
  .object({
    file: queryImage,
    ...textOptions,
    filter: z.string().optional().openapi({ description: 'JSON of Filter' }),
  })
  .strict();

const rankedBySchema = z.enum(['geometric', 'perceptual-hash', 'descriptor']).openapi({
  description:
    'geometric: its local features verified it as the same picture as the query (most inliers first); perceptual-hash: its perceptual hash matched the query image (an edited copy), so it was ranked first; descriptor: ranked by similarity alone',
});
const hitSchema = z
  .object({
    imageId: z.guid(),
    score: z.number(),
    filename: z.string(),
    tags: z.array(z.string()),
    attributes: z.record(z.string(), z.string()),
    thumbnailUrl: z.string().nullable(),
    contentUrl: z.string(),
    rankedBy: rankedBySchema,
    verified: z.boolean().openapi({
      description:
        'geometric verification found the same picture (a crop, frame, overlay or re-encoding of it)',
    }),
    inliers: z
      .number()
      .int()
      .min(0)
      .openapi({ description: 'keypoint matches one similarity transform explains; 0 when not compared' }),
  })
  .openapi('Hit');
const searchResultSchema = z
  .object({
    model: z.object({ modelId: z.string(), modelVersion: z.string() }),
    hits: z.array(hitSchema),
    tookMs: z
      .number()
      .optional()
      .openapi({ description: 'milliseconds the search took in the read API (POST /v1/search only)' }),
  })
  .openapi('SearchResult');
const rankedHits = {
  description: 'Ranked hits',
  content: { 'application/json': { schema: searchResultSchema } },
};

/** A hit as the API shows it: what put it at its rank, and whether it was verified. */
export type HitView = z.input<typeof hitSchema>;
type SearchResultView = z.input<typeof searchResultSchema>;
// Every rank the fusion can give is one the document names.
const _rankedBy: RankedBy extends HitView['rankedBy'] ? true : never = true;

/** The contract of each route below: what it validates its request with and answers. */
export const searchContract = {
  search: defineRoute({
    method: 'post',
    path: '/v1/search',
    summary: 'Search the caller’s images by a query image, an image id or a vector',
    request: {
      headers: snapshotHeaders,
      query: z
        .object({
          model: modelSchema.optional().openapi({
            description: 'modelId@version of a search by upload (a multipart `model` field says the same)',
          }),
        })
        .strict(),
      body: {
        required: true,
        content: {
          'application/json': { schema: jsonSearch },
          'multipart/form-data': { schema: multipartSearch },
        },
      },
    },
    responses: { 200: rankedHits, ...problemResponses },
  }),
  similar: defineRoute({
    method: 'get',
    path: '/v1/images/{id}/similar',
    summary: 'Images similar to this one',
    request: {
      headers: snapshotHeaders,
      params: z.object({ id: uuidPathParameter }),
      query: z
        .object({
          ...textOptions,
          tag: z
            .union([tag, z.array(tag)])
            .optional()
            .openapi({ description: 'only hits with this tag (repeat for all of several)' }),
        })
        .strict(),
    },
    responses: { 200: rankedHits, ...problemResponses },
  }),
};

/**
 * How many hits to ask the index for: the descriptor's top `defaultFusion.depth` are the
 * candidates the perceptual hash may lift and the geometric verification may confirm, whatever
 * `k` the caller wants back.
 */
const candidatesFor = (k: number, queryHash: string | null | undefined, features: LocalFeatures | null) =>
  queryHash || features ? Math.max(k, defaultFusion.depth) : k;

function parseModel(model: string | undefined, fallback: ModelRef): ModelRef {
  if (!model) return fallback;
  const [modelId, modelVersion] = model.split('@') as [string, string];
  return { modelId, modelVersion };
}

/** Search by image, by image id or by vector; and an image's look-alikes. */
export function searchRoutes(deps: ReadApiDependencies) {
  const { metadata, vectors } = deps;
  const app = new Hono<ReadApiEnv>();

  /**
   * The first `k` hits as the API shows them, read with ONE metadata query: the descriptor's
   * order fused with the perceptual hash (`fuseNearDuplicateRanking`) when the query has one,
   * then the fused top candidates verified geometrically (`promoteVerified`) when the query has
   * local features; a hit whose metadata is gone (deleted meanwhile) is left out.
   */
  async function present(
    tenantId: string,
    hits: VectorHit[],
    k: number,
    query: { hash: string | null; features: LocalFeatures | null },
  ): Promise<HitView[]> {
    // The fused top `depth` lie within the descriptor's top `defaultFusion.depth`: only their
    // features are read.
    const featuresOf = query.features ? hits.slice(0, defaultFusion.depth).map((h) => h.id) : [];
    const rows = await metadata.getSearchHits(
      tenantId,
      hits.map((h) => h.id),
      featuresOf,
    );
    return presentRows(hits, rows, k, query);
  }

  /** `present` on hits whose metadata was read already (`rows`). */
  function presentRows(
    hits: VectorHit[],
    rows: Map<string, SearchHitRow>,
    k: number,
    query: { hash: string | null; features: LocalFeatures | null },
  ): HitView[] {
    const found = hits.flatMap((hit) => {
      const image: SearchHitRow | undefined = rows.get(hit.id);
      return image ? [{ hit, image, perceptualHash: image.perceptual_hash }] : [];
    });
    const fused = fuseNearDuplicateRanking(query.hash, found);
    const queryFeatures = query.features;
    const ranked = queryFeatures
      ? promoteVerified(fused, ({ image }) => {
          const stored = decodeLocalFeatures(image.features);
          return stored ? verifyGeometry(queryFeatures, stored) : null;
        })
      : fused.map((f) => ({ ...f, verified: false, inliers: null }));
    return ranked.slice(0, k).map(({ hit, image, rankedBy, verified, inliers }): HitView => ({
      imageId: hit.id,
      score: Math.round(hit.score * 1e6) / 1e6,
      filename: image.filename,
      tags: image.tags,
      attributes: image.attributes,
      thumbnailUrl: image.has_thumbnail ? `/v1/images/${hit.id}/thumbnail` : null,
      contentUrl: `/v1/images/${hit.id}/content`,
      rankedBy,
      verified,
      inliers: inliers ?? 0,
    }));
  }

  /**
   * A search by the id of one of the tenant's images, presented, with ONE metadata query: the
   * index's neighbours are asked for first (as many as the fusion and verification look at,
   * since whether the stored image has a perceptual hash or features is only known from its
   * row), then their rows and the query image's own — its perceptual hash (null before an
   * embedder computed it) and, for `geometric`, its local features — are read together.
   * Undefined when the image has no vector (not found, or not indexed yet).
   */
  async function presentSimilar(
    tenantId: string,
    imageId: string,
    model: ModelRef,
    search: VectorSearchOptions,
    rerank: Rerank,
  ): Promise<HitView[] | undefined> {
    const candidates = await vectors.similarTo(tenantId, model, imageId, {
      ...search,
      k: Math.max(search.k, defaultFusion.depth),
    });
    if (!candidates) return undefined;
    const ids = [imageId, ...candidates.map((h) => h.id)];
    const rows = await metadata.getSearchHits(
      tenantId,
      ids,
      rerank === 'geometric' ? ids.slice(0, defaultFusion.depth + 1) : [],
    );
    const stored = rows.get(imageId);
    const query = { hash: stored?.perceptual_hash ?? null, features: decodeLocalFeatures(stored?.features) };
    // The candidates the query would have asked for had its hash and features been known first.
    const hits = candidates.slice(0, candidatesFor(search.k, query.hash, query.features));
    return presentRows(hits, rows, search.k, query);
  }

  /** The uploaded query image embedded, with the search options of its fields and the model they name. */
  async function embedQueryImage(c: Context<ReadApiEnv>, modelInQuery: string | undefined) {
    const upload = await receiveUpload(
      c.req.header('content-type'),
      c.req.raw.body as WebReadableStream<Uint8Array> | null,
      {
        ...defaultUploadLimits,
        maxFiles: 1,
        maxFields: 8,
      },
    );
    const [file] = upload.files;
    if (!file) throw new ValidationError('no query image: send one file part');
    const parsed = searchContract.search.request.body.content['multipart/form-data'].schema.safeParse(
      { ...Object.fromEntries(upload.fields), file },
      { error: issueWording },
    );
    if (!parsed.success) {
      throw new ValidationError('the search options are not valid', {
        detail: { errors: issuesOf(parsed.error) },
      });
    }
    const model = parseModel(parsed.data.model ?? modelInQuery, deps.defaultModel);
    // The same checks as an upload: a bad query image gets the same clear errors.
    await inspectImage(file.bytes, {
      maxBytes: defaultUploadLimits.maxFileBytes,
      maxPixels: deps.config.IMAGE_MAX_PIXELS,
    });
    const queryModel = await deps.queryModel();
    const { modelId, modelVersion } = queryModel.manifest;
    if (model.modelId !== modelId || model.modelVersion !== modelVersion) {
      throw new UnprocessableError(
        `query images are embedded with ${modelId}@${modelVersion}; search that model or by vector`,
        {
          detail: { model: `${model.modelId}@${model.modelVersion}` },
        },
      );
    }
    const rerank: Rerank = parsed.data.rerank ?? 'geometric';
    // Descriptor, perceptual hash and local features from one decode, as the embedder makes them.
    const [described] = await queryModel.describeSettled([file.bytes], {
      localFeatures: rerank === 'geometric',
    });
    if (!described || described instanceof Error)
      throw described ?? new UnprocessableError('the query image could not be embedded');
    let filter: z.infer<typeof filterSchema> | undefined;
    if (parsed.data.filter !== undefined) {
      const raw: unknown = (() => {
        try {
          return JSON.parse(parsed.data.filter) as unknown;
        } catch {
          throw new ValidationError('filter is not valid JSON');
        }
      })();
      const checked = filterSchema.safeParse(raw, { error: issueWording });
      if (!checked.success)
        throw new ValidationError('filter is not valid', {
          detail: { errors: checked.error.issues.map((i) => i.message) },
        });
      filter = checked.data;
    }
    return {
      model,
      vector: described.vector,
      perceptualHash: described.perceptualHash,
      features: decodeLocalFeatures(described.localFeatures),
      search: { k: parsed.data.k, threshold: parsed.data.threshold, filter } as VectorSearchOptions,
    };
  }

  const { search: searchRoute, similar: similarRoute } = searchContract;

  app.post('/v1/search', requireScope('search'), async (c) => {
    const tenantId = tenantScope(c);
    const started = performance.now();
    const multipart = /^multipart\/form-data\b/i.test(c.req.header('content-type') ?? '');
    const { model: modelInQuery } = queryOf(c, searchRoute.request.query);
    let model = deps.defaultModel;
    const answer = (presented: HitView[]) => {
      searchLatency.observe(
        { kind: multipart ? 'image' : 'id-or-vector' },
        (performance.now() - started) / 1000,
      );
      searchResults.observe(presented.length);
      const result: SearchResultView = {
        model,
        hits: presented,
        tookMs: Math.round((performance.now() - started) * 100) / 100,
      };
      return c.json(result);
    };
    let hits: VectorHit[];
    let k: number;
    let query: { hash: string | null; features: LocalFeatures | null } = { hash: null, features: null };
    if (multipart) {
      const described = await embedQueryImage(c, modelInQuery);
      model = described.model;
      k = described.search.k;
      query = { hash: described.perceptualHash, features: described.features };
      hits = await vectors.search(tenantId, model, described.vector, {
        ...described.search,
        k: candidatesFor(k, query.hash, query.features),
      });
    } else {
      const body = await jsonBody(c, searchRoute.request.body.content['application/json'].schema);
      model = parseModel(body.model ?? modelInQuery, deps.defaultModel);
      k = body.k;
      const search: VectorSearchOptions = {
        k: body.k,
        ...(body.threshold !== undefined ? { threshold: body.threshold } : {}),
        ...(body.filter ? { filter: body.filter } : {}),
      };
      if (body.imageId) {
        const presented = await presentSimilar(
          tenantId,
          body.imageId,
          model,
          search,
          body.rerank ?? 'geometric',
        );
        if (!presented)
          throw new NotFoundError(
            `image ${body.imageId} has no vector for ${model.modelId}@${model.modelVersion} (not found, or not indexed yet)`,
          );
        return answer(presented);
      } else {
        const dimension = (await deps.queryModel()).dimension;
        if (body.vector!.length !== dimension) {
          throw new ValidationError(
            `the vector has ${body.vector!.length} dimensions; the model has ${dimension}`,
          );
        }
        hits = await vectors.search(
          tenantId,
          model,
          normalizeVector(Float32Array.from(body.vector!)),
          search,
        );
      }
    }
    return answer(await present(tenantId, hits, k, query));
  });

  app.get('/v1/images/:id/similar', requireScope('search'), async (c) => {
    const tenantId = tenantScope(c);
    const { id: imageId } = paramsOf(c, similarRoute.request.params);
    const started = performance.now();
    const query = queryOf(c, similarRoute.request.query);
    const model = parseModel(query.model, deps.defaultModel);
    const tags = query.tag === undefined ? undefined : Array.isArray(query.tag) ? query.tag : [query.tag];
    const presented = await presentSimilar(
      tenantId,
      imageId,
      model,
      {
        k: query.k,
        ...(query.threshold !== undefined ? { threshold: query.threshold } : {}),
        ...(tags ? { filter: { tags } } : {}),
      },
      query.rerank ?? 'geometric',
    );
    if (!presented) throw new NotFoundError(`image ${imageId} not found or not indexed yet`);
    searchLatency.observe({ kind: 'similar' }, (performance.now() - started) / 1000);
    searchResults.observe(presented.length);
    const result: SearchResultView = { model, hits: presented };
    return c.json(result);
  });

  return app;
}
