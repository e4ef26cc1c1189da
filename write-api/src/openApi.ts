/** The write API's OpenAPI 3.1 document, served at `/openapi.json`. */
import {
  commonProblemResponses,
  problemComponents,
  problemResponse as problem,
  storageProblemResponses,
} from '@deeplens/platform/http/openApiProblems';

const errors = { ...commonProblemResponses, 409: problem };
const idempotencyKey = { $ref: '#/components/parameters/IdempotencyKey' };
const json = (schema: object) => ({ content: { 'application/json': { schema } } });
const uuidPath = (name: string) => ({
  name,
  in: 'path',
  required: true,
  schema: { type: 'string', format: 'uuid' },
});

/** Enterprise: the tenant's metadata in a dedicated database, on a configured server (`default`: DATABASE_URL's). */
const isolationProperties = {
  isolation: { enum: ['shared', 'dedicated'] },
  databaseTarget: { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,62}$' },
} as const;

export const writeApiOpenApi = {
  openapi: '3.1.0',
  info: {
    title: 'DeepLens write API',
    version: '1.0.0',
    description:
      'Commands of DeepLens, a multi-tenant image similarity search engine. Every command accepts an Idempotency-Key; errors are RFC 9457 problem+json.',
  },
  security: [{ bearer: [] }, { apiKey: [] }],
  paths: {
    '/v1/auth/token': {
      post: {
        summary: 'Sign in with a password or exchange an API key for an access token',
        security: [],
        requestBody: json({
          oneOf: [
            {
              type: 'object',
              required: ['grant_type', 'email', 'password'],
              properties: {
                grant_type: { const: 'password' },
                email: { type: 'string' },
                password: { type: 'string' },
              },
            },
            {
              type: 'object',
              required: ['grant_type', 'api_key'],
              properties: { grant_type: { const: 'api_key' }, api_key: { type: 'string' } },
            },
          ],
        }),
        responses: {
          200: { description: 'Tokens', ...json({ $ref: '#/components/schemas/Tokens' }) },
          ...errors,
        },
      },
    },
    '/v1/auth/refresh': {
      post: {
        summary: 'Rotate a refresh token (reuse revokes the whole session)',
        security: [],
        requestBody: json({
          type: 'object',
          required: ['refresh_token'],
          properties: { refresh_token: { type: 'string' } },
        }),
        responses: {
          200: { description: 'Tokens', ...json({ $ref: '#/components/schemas/Tokens' }) },
          ...errors,
        },
      },
    },
    '/v1/auth/logout': {
      post: {
        summary: 'End a session',
        security: [],
        requestBody: json({
          type: 'object',
          required: ['refresh_token'],
          properties: { refresh_token: { type: 'string' } },
        }),
        responses: { 204: { description: 'Signed out' }, ...errors },
      },
    },
    '/.well-known/jwks.json': {
      get: {
        summary: 'Public keys that verify access tokens',
        security: [],
        responses: { 200: { description: 'JWKS' } },
      },
    },
    '/v1/users': {
      post: {
        summary: 'Create a user (platform admin: any; tenant admin: own tenant)',
        parameters: [idempotencyKey],
        requestBody: json({
          type: 'object',
          required: ['email', 'password', 'role'],
          properties: {
            email: { type: 'string' },
            password: { type: 'string', minLength: 12 },
            role: { enum: ['platform_admin', 'tenant_admin', 'tenant_user'] },
            tenantId: { type: ['string', 'null'], format: 'uuid' },
          },
        }),
        responses: { 201: { description: 'Created' }, ...errors },
      },
    },
    '/v1/users/{id}': {
      parameters: [uuidPath('id')],
      delete: {
        summary:
          'Disable and erase a user (platform admin: any; tenant admin: own tenant): their data key is destroyed, so their e-mail and password hash in the log read as erased',
        responses: { 204: { description: 'Erased' }, ...errors },
      },
    },
    '/v1/tenants': {
      post: {
        summary: 'Provision a tenant (platform admin)',
        parameters: [idempotencyKey],
        requestBody: json({
          type: 'object',
          required: ['slug', 'name'],
          properties: {
            slug: { type: 'string' },
            name: { type: 'string' },
            plan: { enum: ['free', 'pro', 'enterprise'] },
            limits: { $ref: '#/components/schemas/Limits' },
            ...isolationProperties,
          },
        }),
        responses: {
          201: { description: 'Provisioned', ...json({ $ref: '#/components/schemas/Tenant' }) },
          ...errors,
        },
      },
    },
    '/v1/tenants/{id}': {
      parameters: [uuidPath('id')],
      get: {
        summary: 'A tenant',
        responses: {
          200: { description: 'Tenant', ...json({ $ref: '#/components/schemas/Tenant' }) },
          ...errors,
        },
      },
      patch: {
        summary: 'Change plan, suspend or reactivate',
        parameters: [idempotencyKey],
        requestBody: json({
          type: 'object',
          properties: {
            plan: { enum: ['free', 'pro', 'enterprise'] },
            limits: { $ref: '#/components/schemas/Limits' },
            status: { enum: ['active', 'suspended'] },
            reason: { type: 'string' },
            ...isolationProperties,
          },
        }),
        responses: {
          200: { description: 'Tenant', ...json({ $ref: '#/components/schemas/Tenant' }) },
          ...errors,
        },
      },
      delete: {
        summary: 'Erase a tenant: its images, vectors, objects and keys',
        parameters: [idempotencyKey],
        responses: { 202: { description: 'Erasure accepted' }, ...errors },
      },
    },
    '/v1/tenants/{id}/storage': {
      parameters: [uuidPath('id')],
      put: {
        summary: 'Bring your own S3 storage (the secret is encrypted at rest and never returned)',
        parameters: [idempotencyKey],
        requestBody: json({
          type: 'object',
          required: ['endpoint', 'bucket', 'accessKeyId', 'secretAccessKey'],
          properties: {
            endpoint: { type: 'string' },
            bucket: { type: 'string' },
            region: { type: 'string' },
            prefix: { type: 'string' },
            accessKeyId: { type: 'string' },
            secretAccessKey: { type: 'string' },
          },
        }),
        responses: { 200: { description: 'Storage, without its secret' }, ...errors },
      },
    },
    '/v1/tenants/{id}/storage/move': {
      parameters: [uuidPath('id')],
      post: {
        summary:
          "Move the tenant's objects to another storage without downtime: uploads go there at once, the rest is copied and verified by sha256 in the background (docs/storage-moves.md)",
        parameters: [idempotencyKey],
        requestBody: json({
          oneOf: [
            {
              type: 'object',
              required: ['kind'],
              properties: { kind: { const: 'platform' } },
              additionalProperties: false,
            },
            {
              type: 'object',
              description:
                'A storage as PUT /v1/tenants/{id}/storage takes it: s3 (kind optional; endpoint, bucket, region, prefix, accessKeyId, secretAccessKey), azure (account or endpoint, container, prefix, sharedKey or sasToken) or path (path, prefix)',
              properties: {
                kind: { enum: ['s3', 'azure', 'path'] },
                endpoint: { type: 'string' },
                bucket: { type: 'string' },
                region: { type: 'string' },
                prefix: { type: 'string' },
                accessKeyId: { type: 'string' },
                secretAccessKey: { type: 'string' },
                account: { type: 'string' },
                container: { type: 'string' },
                sharedKey: { type: 'string' },
                sasToken: { type: 'string' },
                path: { type: 'string' },
              },
            },
          ],
        }),
        responses: {
          202: { description: 'The move started', ...json({ $ref: '#/components/schemas/StorageMove' }) },
          ...errors,
        },
      },
      get: {
        summary: "The tenant's last storage move and its progress",
        responses: {
          200: { description: 'The move', ...json({ $ref: '#/components/schemas/StorageMove' }) },
          ...errors,
        },
      },
    },
    '/v1/tenants/{id}/api-keys': {
      parameters: [uuidPath('id')],
      post: {
        summary: 'Issue an API key; the secret is shown once',
        parameters: [idempotencyKey],
        requestBody: json({
          type: 'object',
          required: ['scopes'],
          properties: {
            name: { type: 'string' },
            scopes: { type: 'array', items: { enum: ['images:read', 'images:write', 'search'] } },
            expiresAt: { type: 'string', format: 'date-time' },
          },
        }),
        responses: {
          201: { description: 'Issued', ...json({ $ref: '#/components/schemas/IssuedApiKey' }) },
          ...errors,
        },
      },
    },
    '/v1/tenants/{id}/api-keys/{keyId}': {
      parameters: [uuidPath('id'), uuidPath('keyId')],
      delete: {
        summary: 'Revoke an API key',
        parameters: [idempotencyKey],
        responses: { 204: { description: 'Revoked' }, ...errors },
      },
    },
    '/v1/tenants/{id}/intake-keys': {
      parameters: [uuidPath('id')],
      post: {
        summary: "Register an integration's Ed25519 public key; intake records it signs act for the tenant",
        description:
          'Tenant admins (or platform admins). Give the public key as SPKI PEM or as a JWK (kty OKP, crv Ed25519); a private key is refused. Only the public key is kept and published. See docs/integrations.md.',
        parameters: [idempotencyKey],
        requestBody: json({
          type: 'object',
          properties: {
            name: { type: 'string' },
            publicKey: { type: 'string', description: 'SPKI PEM' },
            jwk: {
              type: 'object',
              required: ['kty', 'crv', 'x'],
              properties: { kty: { const: 'OKP' }, crv: { const: 'Ed25519' }, x: { type: 'string' } },
            },
          },
        }),
        responses: {
          201: {
            description: 'Registered: put id in the deeplens-key-id header of every record it signs',
            ...json({
              type: 'object',
              required: ['id', 'tenantId', 'name', 'algorithm', 'publicKey'],
              properties: {
                id: { type: 'string', format: 'uuid' },
                tenantId: { type: 'string', format: 'uuid' },
                name: { type: 'string' },
                algorithm: { const: 'Ed25519' },
                publicKey: { type: 'string' },
                headers: { type: 'object', additionalProperties: { type: 'string' } },
              },
            }),
          },
          ...errors,
        },
      },
    },
    '/v1/tenants/{id}/intake-keys/{keyId}': {
      parameters: [uuidPath('id'), uuidPath('keyId')],
      delete: {
        summary: 'Revoke an intake key: records it signs are refused from now on',
        parameters: [idempotencyKey],
        responses: { 204: { description: 'Revoked' }, ...errors },
      },
    },
    '/v1/uploads': {
      post: {
        summary: 'Store one image for an intake record to register (expires after 24 h if never registered)',
        parameters: [idempotencyKey],
        requestBody: {
          content: {
            'multipart/form-data': {
              schema: {
                type: 'object',
                required: ['file'],
                properties: { file: { type: 'string', format: 'binary' } },
              },
            },
          },
        },
        responses: {
          201: {
            description: "Stored in the tenant's storage: name objectKey (and these values) in RegisterImage",
            ...json({
              type: 'object',
              required: ['objectKey', 'sha256', 'mime', 'bytes', 'width', 'height', 'expiresAt'],
              properties: {
                objectKey: { type: 'string' },
                sha256: { type: 'string' },
                mime: { type: 'string' },
                bytes: { type: 'integer' },
                width: { type: 'integer' },
                height: { type: 'integer' },
                expiresAt: { type: 'string', format: 'date-time' },
              },
            }),
          },
          ...errors,
          ...storageProblemResponses,
        },
      },
    },
    '/v1/uploads/presigned': {
      post: {
        summary:
          "A presigned S3 PUT URL for one image's bytes, where the tenant's storage is S3 (409 on a filesystem store)",
        parameters: [idempotencyKey],
        requestBody: json({
          type: 'object',
          required: ['sha256', 'mime', 'bytes'],
          properties: {
            sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
            mime: {
              enum: ['image/jpeg', 'image/png', 'image/webp', 'image/gif', 'image/avif', 'image/tiff'],
            },
            bytes: { type: 'integer', minimum: 1 },
          },
        }),
        responses: {
          201: {
            description: 'PUT the bytes to url before urlExpiresAt; register objectKey before expiresAt',
            ...json({
              type: 'object',
              required: ['objectKey', 'method', 'url', 'urlExpiresAt', 'expiresAt'],
              properties: {
                objectKey: { type: 'string' },
                method: { const: 'PUT' },
                url: { type: 'string', format: 'uri' },
                urlExpiresAt: { type: 'string', format: 'date-time' },
                expiresAt: { type: 'string', format: 'date-time' },
              },
            }),
          },
          ...errors,
          ...storageProblemResponses,
        },
      },
    },
    '/v1/intake/{requestId}': {
      parameters: [
        { name: 'requestId', in: 'path', required: true, schema: { type: 'string', maxLength: 200 } },
      ],
      get: {
        summary:
          "The outcome of one of the tenant's intake records: pending, accepted (with the image id) or rejected",
        responses: {
          200: {
            description: 'The outcome',
            ...json({
              type: 'object',
              required: ['requestId', 'status'],
              properties: {
                requestId: { type: 'string' },
                status: { enum: ['pending', 'accepted', 'rejected'] },
                command: { type: 'string' },
                imageId: { type: ['string', 'null'] },
                code: { type: 'string' },
                reason: { type: 'string' },
                updatedAt: { type: 'string', format: 'date-time' },
              },
            }),
          },
          ...errors,
        },
      },
    },
    '/v1/images': {
      post: {
        summary: 'Upload one or many images (202: accepted; embedding follows)',
        parameters: [idempotencyKey],
        requestBody: {
          content: {
            'multipart/form-data': {
              schema: {
                type: 'object',
                properties: {
                  file: { type: 'array', items: { type: 'string', format: 'binary' } },
                  tags: { type: 'string', description: 'JSON array or comma-separated list' },
                  attributes: { type: 'string', description: 'JSON object of string values' },
                },
              },
            },
          },
        },
        responses: {
          202: { description: 'Accepted', ...json({ $ref: '#/components/schemas/AcceptedImages' }) },
          ...errors,
          ...storageProblemResponses,
        },
      },
    },
    '/v1/images/{id}': {
      parameters: [uuidPath('id')],
      patch: {
        summary: 'Replace tags and/or attributes',
        parameters: [idempotencyKey],
        requestBody: json({
          type: 'object',
          properties: {
            tags: { type: 'array', items: { type: 'string' } },
            attributes: { type: 'object', additionalProperties: { type: 'string' } },
          },
        }),
        responses: { 200: { description: 'Updated' }, ...errors },
      },
      delete: {
        summary: 'Delete an image',
        parameters: [idempotencyKey],
        responses: { 202: { description: 'Deletion accepted' }, ...errors },
      },
    },
  },
  components: {
    securitySchemes: {
      bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
      apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
    },
    parameters: {
      IdempotencyKey: {
        name: 'Idempotency-Key',
        in: 'header',
        required: false,
        schema: { type: 'string', maxLength: 255 },
        description: 'A retry with the same key gets the first answer.',
      },
    },
    headers: problemComponents.headers,
    responses: problemComponents.responses,
    schemas: {
      ...problemComponents.schemas,
      StorageMove: {
        type: 'object',
        required: [
          'moveId',
          'status',
          'from',
          'to',
          'objects',
          'bytes',
          'totalObjects',
          'startedAt',
          'finishedAt',
        ],
        properties: {
          moveId: { type: 'string', format: 'uuid' },
          status: { enum: ['copying', 'verified', 'completed', 'failed'] },
          from: { type: 'string', description: 'The source, without credentials' },
          to: { type: 'string', description: 'The target, without credentials' },
          objects: {
            type: 'integer',
            description: 'Objects copied and verified so far (all of them once verified)',
          },
          bytes: { type: 'integer' },
          totalObjects: { type: 'integer', description: "Objects of the tenant's images and thumbnails now" },
          startedAt: { type: 'string', format: 'date-time' },
          finishedAt: { type: ['string', 'null'], format: 'date-time' },
          reason: { type: 'string', description: 'Why the move failed' },
        },
      },
      Tokens: {
        type: 'object',
        properties: {
          access_token: { type: 'string' },
          token_type: { const: 'Bearer' },
          expires_in: { type: 'integer' },
          refresh_token: { type: 'string' },
        },
      },
      Limits: {
        type: 'object',
        properties: {
          maxImages: { type: 'integer' },
          maxBytes: { type: 'integer' },
          maxImageBytes: { type: 'integer' },
          requestsPerMinute: { type: 'integer' },
        },
      },
      Tenant: {
        type: 'object',
        properties: {
          id: { type: 'string', format: 'uuid' },
          slug: { type: 'string' },
          name: { type: 'string' },
          plan: { type: 'string' },
          status: { type: 'string' },
          limits: { $ref: '#/components/schemas/Limits' },
          isolation: { enum: ['shared', 'dedicated'] },
          databaseTarget: { type: 'string' },
          version: { type: 'integer' },
        },
      },
      IssuedApiKey: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          prefix: { type: 'string' },
          secret: { type: 'string' },
          scopes: { type: 'array', items: { type: 'string' } },
          expiresAt: { type: ['string', 'null'] },
        },
      },
      AcceptedImages: {
        type: 'object',
        properties: {
          images: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                id: { type: 'string', format: 'uuid' },
                status: { const: 'uploaded' },
                filename: { type: 'string' },
                sha256: { type: 'string' },
                location: { type: 'string' },
              },
            },
          },
        },
      },
    },
  },
} as const;
