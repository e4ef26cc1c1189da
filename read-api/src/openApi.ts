/** The read API's OpenAPI 3.1 document, served at `/openapi.json`. */
const problem = { $ref: '#/components/responses/Problem' };
const errors = {
  400: problem,
  401: problem,
  403: problem,
  404: problem,
  413: problem,
  415: problem,
  422: problem,
  429: problem,
  503: problem,
};
const json = (schema: object) => ({ content: { 'application/json': { schema } } });
const imageId = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
const searchOptions = {
  k: { type: 'integer', minimum: 1, maximum: 100, default: 10 },
  threshold: { type: 'number', minimum: -1, maximum: 1, description: 'lowest cosine similarity of a hit' },
  filter: { $ref: '#/components/schemas/Filter' },
  model: { type: 'string', description: 'modelId@version; the embedder’s model when absent' },
};

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
      get: {
        summary: 'Images similar to this one',
        parameters: [
          imageId,
          { name: 'k', in: 'query', schema: { type: 'integer' } },
          { name: 'threshold', in: 'query', schema: { type: 'number' } },
          { name: 'tag', in: 'query', schema: { type: 'string' } },
          { name: 'model', in: 'query', schema: { type: 'string' } },
        ],
        responses: {
          200: { description: 'Ranked hits', ...json({ $ref: '#/components/schemas/SearchResult' }) },
          ...errors,
        },
      },
    },
    '/v1/images/{id}/thumbnail': {
      get: {
        summary: 'The WebP thumbnail',
        parameters: [imageId],
        responses: { 200: { description: 'image/webp', content: { 'image/webp': {} } }, ...errors },
      },
    },
    '/v1/images/{id}/content': {
      get: {
        summary: 'The original bytes',
        parameters: [imageId],
        responses: { 200: { description: 'The image', content: { 'image/*': {} } }, ...errors },
      },
    },
    '/v1/duplicates': {
      get: {
        summary: 'Groups of near-duplicate images',
        parameters: [
          {
            name: 'threshold',
            in: 'query',
            schema: { type: 'number', minimum: 0.5, maximum: 1, default: 0.95 },
          },
          { name: 'limit', in: 'query', schema: { type: 'integer', maximum: 5000 } },
        ],
        responses: {
          200: {
            description: 'Groups',
            ...json({
              type: 'object',
              properties: {
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
    responses: {
      Problem: {
        description: 'RFC 9457 problem details',
        content: {
          'application/problem+json': {
            schema: {
              type: 'object',
              properties: {
                type: { type: 'string' },
                title: { type: 'string' },
                status: { type: 'integer' },
                detail: { type: 'string' },
                code: { type: 'string' },
              },
            },
          },
        },
      },
    },
    schemas: {
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
            enum: ['perceptual-hash', 'descriptor'],
            description:
              'perceptual-hash: its perceptual hash matched the query image (an edited copy), so it was ranked first; descriptor: ranked by similarity alone',
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
