/** The read API's OpenAPI 3.1 document, served at `/openapi.json`. */
import {
  commonProblemResponses as errors,
  problemComponents,
  storageProblemResponses,
} from '@deeplens/platform/http/openApiProblems';

const json = (schema: object) => ({ content: { 'application/json': { schema } } });
const imageId = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
const searchOptions = {
  k: { type: 'integer', minimum: 1, maximum: 100, default: 10 },
  threshold: { type: 'number', minimum: -1, maximum: 1, description: 'lowest cosine similarity of a hit' },
  filter: { $ref: '#/components/schemas/Filter' },
  model: { type: 'string', description: 'modelId@version; the embedder’s model when absent' },
  rerank: {
    enum: ['geometric', 'none'],
    default: 'geometric',
    description:
      'geometric: the top candidates of a search by image or id are verified with local features and a verified one is ranked first; none: the descriptor and perceptual hash alone',
  },
};

/**
 * Admin-only request headers on every read: a platform admin reads a point-in-time snapshot
 * generation (built by `rebuildMain.ts <projection> --until …`) beside the live one.
 */
const snapshotHeaders = [
  { $ref: '#/components/parameters/GenerationHeader' },
  { $ref: '#/components/parameters/TenantHeader' },
];

export const readApiOpenApi = {
  openapi: '3.1.0',
  info: {
    title: 'DeepLens read API',
    version: '1.0.0',
    description: 'Similarity search and browsing of a tenant’s images. Errors are RFC 9457 problem+json.',
  },
  security: [{ bearer: [] }, { apiKey: [] }],
  paths: {
    '/v1/search': {
      parameters: snapshotHeaders,
      post: {
        summary: 'Search the caller’s images by a query image, an image id or a vector',
        requestBody: {
          content: {
            'application/json': {
              schema: {
                type: 'object',
                properties: {
                  imageId: { type: 'string', format: 'uuid' },
                  vector: { type: 'array', items: { type: 'number' } },
                  ...searchOptions,
                },
              },
            },
            'multipart/form-data': {
              schema: {
                type: 'object',
                required: ['file'],
                properties: {
                  file: { type: 'string', format: 'binary' },
                  k: { type: 'integer' },
                  threshold: { type: 'number' },
                  filter: { type: 'string', description: 'JSON of Filter' },
                  rerank: searchOptions.rerank,
                },
              },
            },
          },
        },
        responses: {
          200: { description: 'Ranked hits', ...json({ $ref: '#/components/schemas/SearchResult' }) },
          ...errors,
        },
      },
    },
    '/v1/images': {
      parameters: snapshotHeaders,
      get: {
        summary: 'List the caller’s images (cursor pagination)',
        parameters: [
          { name: 'cursor', in: 'query', schema: { type: 'string' } },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 500 } },
          { name: 'tag', in: 'query', schema: { type: 'string' } },
          { name: 'status', in: 'query', schema: { enum: ['uploaded', 'embedded', 'indexed', 'failed'] } },
        ],
        responses: {
          200: {
            description: 'A page',
            ...json({
              type: 'object',
              properties: {
                items: { type: 'array', items: { $ref: '#/components/schemas/Image' } },
                nextCursor: { type: ['string', 'null'] },
              },
            }),
          },
          ...errors,
        },
      },
    },
    '/v1/images/{id}': {
      parameters: snapshotHeaders,
      get: {
        summary: 'An image: status (uploaded → embedded → indexed, or failed with a reason) and metadata',
        parameters: [imageId],
        responses: {
          200: { description: 'Image', ...json({ $ref: '#/components/schemas/Image' }) },
          ...errors,
        },
      },
    },
    '/v1/images/{id}/similar': {
      parameters: snapshotHeaders,
      get: {
        summary: 'Images similar to this one',
        parameters: [
          imageId,
          { name: 'k', in: 'query', schema: { type: 'integer' } },
          { name: 'threshold', in: 'query', schema: { type: 'number' } },
          { name: 'tag', in: 'query', schema: { type: 'string' } },
          { name: 'model', in: 'query', schema: { type: 'string' } },
          { name: 'rerank', in: 'query', schema: searchOptions.rerank },
        ],
        responses: {
          200: { description: 'Ranked hits', ...json({ $ref: '#/components/schemas/SearchResult' }) },
          ...errors,
        },
      },
    },
    '/v1/images/{id}/thumbnail': {
      parameters: snapshotHeaders,
      get: {
        summary: 'The WebP thumbnail',
        parameters: [imageId],
        responses: {
          200: { description: 'image/webp', content: { 'image/webp': {} } },
          ...errors,
          ...storageProblemResponses,
        },
      },
    },
    '/v1/images/{id}/content': {
      parameters: snapshotHeaders,
      get: {
        summary: 'The original bytes',
        parameters: [imageId],
        responses: {
          200: { description: 'The image', content: { 'image/*': {} } },
          ...errors,
          ...storageProblemResponses,
        },
      },
    },
    '/v1/images/{id}/history': {
      parameters: snapshotHeaders,
      get: {
        summary: 'Every event of an image in log order: who, when, the correlation id and what changed',
        description:
          'Served from the history projection. A deleted image keeps its history until its tenant is erased; another tenant’s image answers 404 as an unknown one does. Costs one request unit, like a listing.',
        parameters: [
          imageId,
          {
            name: 'cursor',
            in: 'query',
            schema: { type: 'string' },
            description: 'the previous page’s nextCursor',
          },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 } },
        ],
        responses: {
          200: {
            description: 'A page of the history',
            ...json({ $ref: '#/components/schemas/ImageHistoryPage' }),
          },
          ...errors,
        },
      },
    },
    '/v1/duplicates': {
      parameters: snapshotHeaders,
      get: {
        summary: 'Groups of near-duplicate images',
        description:
          "Scans the tenant's most recent `limit` indexed images; each image's 10 nearest neighbours join its group when " +
          'the pair passes `match`. `verified` (default): geometric verification with the stored local features confirms ' +
          'the pair (≥ 15 inliers, as search), or its descriptor similarity is ≥ `threshold` (a mirrored copy does not ' +
          'verify); `descriptor`: the descriptor similarity alone, ≥ `threshold`. `threshold` defaults to the embedding ' +
          "space's measured value (0.90 for descriptor v2, 0.95 for v1). Cost per scanned image: one vector query, at most " +
          'one metadata read and 10 verifications (each a few milliseconds of CPU).',
        parameters: [
          {
            name: 'match',
            in: 'query',
            schema: { type: 'string', enum: ['verified', 'descriptor'], default: 'verified' },
          },
          {
            name: 'threshold',
            in: 'query',
            schema: { type: 'number', minimum: 0.5, maximum: 1 },
          },
          {
            name: 'limit',
            in: 'query',
            schema: { type: 'integer', minimum: 2, maximum: 5000, default: 1000 },
          },
        ],
        responses: {
          200: {
            description: 'Groups',
            ...json({
              type: 'object',
              properties: {
                match: { type: 'string', enum: ['verified', 'descriptor'] },
                threshold: { type: 'number' },
                scanned: { type: 'integer' },
                groups: {
                  type: 'array',
                  items: {
                    type: 'object',
                    properties: {
                      images: {
                        type: 'array',
                        items: {
                          type: 'object',
                          properties: { imageId: { type: 'string' }, filename: { type: 'string' } },
                        },
                      },
                    },
                  },
                },
              },
            }),
          },
          ...errors,
        },
      },
    },
    '/v1/tenants/{id}/usage': {
      parameters: snapshotHeaders,
      get: {
        summary: 'Images and bytes stored, with the plan’s limits',
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }],
        responses: {
          200: {
            description: 'Usage',
            ...json({
              type: 'object',
              properties: {
                tenantId: { type: 'string' },
                images: { type: 'integer' },
                bytes: { type: 'integer' },
                plan: { type: 'string' },
              },
            }),
          },
          ...errors,
        },
      },
    },
  },
  components: {
    securitySchemes: {
      bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
      apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
    },
    headers: problemComponents.headers,
    responses: problemComponents.responses,
    parameters: {
      GenerationHeader: {
        name: 'DeepLens-Generation',
        in: 'header',
        required: false,
        schema: { type: 'string' },
        examples: { perProjection: { value: 'metadata:7, vectors:4' }, bare: { value: '7' } },
        description:
          'Platform admins only: read these generations instead of the active ones — `<projection>:<generation>, …` (projections metadata, usage, vectors) or one bare number (every projection with a snapshot of that number). Anyone else sending it gets 403 problem+json; an unknown, dropped or still-building generation 404; a malformed value 400.',
      },
      TenantHeader: {
        name: 'DeepLens-Tenant',
        in: 'header',
        required: false,
        schema: { type: 'string', format: 'uuid' },
        description:
          'Platform admins only, and only with DeepLens-Generation: the tenant whose snapshot to read (a platform admin belongs to no tenant), with the admin’s read and search scopes only; ignored without DeepLens-Generation; not a tenant id: 400. Anyone else sending DeepLens-Generation gets 403.',
      },
    },
    schemas: {
      ...problemComponents.schemas,
      Filter: {
        type: 'object',
        properties: {
          tags: { type: 'array', items: { type: 'string' } },
          attributes: { type: 'object', additionalProperties: { type: 'string' } },
        },
      },
      Hit: {
        type: 'object',
        properties: {
          imageId: { type: 'string', format: 'uuid' },
          score: { type: 'number' },
          filename: { type: 'string' },
          tags: { type: 'array', items: { type: 'string' } },
          attributes: { type: 'object', additionalProperties: { type: 'string' } },
          thumbnailUrl: { type: ['string', 'null'] },
          contentUrl: { type: 'string' },
          rankedBy: {
            enum: ['geometric', 'perceptual-hash', 'descriptor'],
            description:
              'geometric: its local features verified it as the same picture as the query (most inliers first); perceptual-hash: its perceptual hash matched the query image (an edited copy), so it was ranked first; descriptor: ranked by similarity alone',
          },
          verified: {
            type: 'boolean',
            description:
              'geometric verification found the same picture (a crop, frame, overlay or re-encoding of it)',
          },
          inliers: {
            type: 'integer',
            minimum: 0,
            description: 'keypoint matches one similarity transform explains; 0 when not compared',
          },
        },
      },
      SearchResult: {
        type: 'object',
        properties: {
          model: {
            type: 'object',
            properties: { modelId: { type: 'string' }, modelVersion: { type: 'string' } },
          },
          hits: { type: 'array', items: { $ref: '#/components/schemas/Hit' } },
        },
      },
      ImageHistoryPage: {
        type: 'object',
        required: ['imageId', 'items', 'nextCursor'],
        properties: {
          imageId: { type: 'string', format: 'uuid' },
          items: { type: 'array', items: { $ref: '#/components/schemas/ImageHistoryEvent' } },
          nextCursor: { type: ['string', 'null'] },
        },
      },
      ImageHistoryEvent: {
        type: 'object',
        required: [
          'version',
          'eventId',
          'type',
          'occurredAt',
          'actor',
          'correlationId',
          'causationId',
          'changes',
          'details',
          'logPosition',
        ],
        properties: {
          version: {
            type: 'integer',
            description: 'the image’s version after the event: 1, 2, 3 … in log order',
          },
          eventId: { type: 'string' },
          type: {
            enum: [
              'ImageUploaded',
              'ImageEmbedded',
              'ImageEmbeddingFailed',
              'ThumbnailGenerated',
              'ImageMetadataUpdated',
              'ImageDeleted',
            ],
          },
          occurredAt: { type: 'string', format: 'date-time' },
          actor: {
            type: 'object',
            required: ['kind', 'id'],
            properties: {
              kind: { enum: ['user', 'apiKey', 'intake', 'system'] },
              id: {
                type: ['string', 'null'],
                description: 'the user, API key or intake key id; the process for system (embedder, …)',
              },
            },
          },
          correlationId: {
            type: 'string',
            description: 'the X-Request-Id of the request, or the intake requestId',
          },
          causationId: { type: ['string', 'null'] },
          changes: {
            type: 'object',
            description: 'only what the event changed, each as before and after',
            properties: {
              status: { $ref: '#/components/schemas/HistoryStatusChange' },
              tags: { $ref: '#/components/schemas/HistoryTagsChange' },
              attributes: { $ref: '#/components/schemas/HistoryAttributesChange' },
            },
          },
          details: {
            type: 'object',
            description:
              'what the event says besides: the upload’s filename, mime, bytes, width, height, sha256 and source; an embedding’s model (id@version), dim and perceptualHash (never the vector); a failure’s model, reason and retriable; a thumbnail’s width, height and mime; a deletion’s bytes',
            additionalProperties: true,
          },
          logPosition: { type: 'string', description: 'topic:partition:offset of the event in Kafka' },
        },
      },
      HistoryStatusChange: {
        type: 'object',
        properties: {
          before: { enum: ['uploaded', 'embedded', 'failed', 'deleted', null] },
          after: { enum: ['uploaded', 'embedded', 'failed', 'deleted', null] },
        },
      },
      HistoryTagsChange: {
        type: 'object',
        properties: {
          before: { type: ['array', 'null'], items: { type: 'string' } },
          after: { type: ['array', 'null'], items: { type: 'string' } },
        },
      },
      HistoryAttributesChange: {
        type: 'object',
        properties: {
          before: { type: ['object', 'null'], additionalProperties: { type: 'string' } },
          after: { type: ['object', 'null'], additionalProperties: { type: 'string' } },
        },
      },
      Image: {
        type: 'object',
        properties: {
          id: { type: 'string', format: 'uuid' },
          status: { enum: ['uploaded', 'embedded', 'indexed', 'failed'] },
          failure: {
            type: ['object', 'null'],
            properties: { reason: { type: 'string' }, retriable: { type: 'boolean' } },
          },
          filename: { type: 'string' },
          mime: { type: 'string' },
          bytes: { type: 'integer' },
          width: { type: 'integer' },
          height: { type: 'integer' },
          sha256: { type: 'string' },
          tags: { type: 'array', items: { type: 'string' } },
          attributes: { type: 'object', additionalProperties: { type: 'string' } },
          thumbnailUrl: { type: ['string', 'null'] },
          contentUrl: { type: 'string' },
          uploadedAt: { type: 'string', format: 'date-time' },
          updatedAt: { type: 'string', format: 'date-time' },
        },
      },
    },
  },
} as const;
