/**
 * The error answers both APIs give, as OpenAPI 3.1 components: one definition each, referenced
 * from every operation of both documents (`read-api/src/openApi.ts`, `write-api/src/openApi.ts`).
 */

const problemSchema = {
  type: 'object',
  required: ['type', 'title', 'status', 'code'],
  properties: {
    type: { type: 'string', description: '`urn:deeplens:problem:<code>`' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    code: { type: 'string', description: 'Our reason code, stable across releases' },
    retriable: { type: 'boolean', description: 'Whether the same request may succeed later' },
    requestId: { type: 'string', description: 'The `X-Request-Id` of the request' },
    retryAfterSeconds: { type: 'integer', description: 'With 429 and 503: also sent as `Retry-After`' },
  },
} as const;

const problemContent = { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } };
const retryAfter = { $ref: '#/components/headers/Retry-After' };
const rateLimitHeaders = {
  'RateLimit-Limit': { $ref: '#/components/headers/RateLimit-Limit' },
  'RateLimit-Remaining': { $ref: '#/components/headers/RateLimit-Remaining' },
  'RateLimit-Reset': { $ref: '#/components/headers/RateLimit-Reset' },
  'RateLimit-Policy': { $ref: '#/components/headers/RateLimit-Policy' },
};

/** `components.headers`, `components.responses` and `components.schemas` entries to spread in. */
export const problemComponents = {
  headers: {
    'Retry-After': {
      description: 'Seconds to wait before retrying (RFC 9110)',
      schema: { type: 'integer', minimum: 1 },
    },
    'RateLimit-Limit': {
      description:
        'Request units the tenant’s plan allows per window (IETF draft-ietf-httpapi-ratelimit-headers); a search by upload or a duplicate scan costs more than one',
      schema: { type: 'integer', minimum: 0 },
    },
    'RateLimit-Remaining': {
      description: 'Request units left in the current window',
      schema: { type: 'integer', minimum: 0 },
    },
    'RateLimit-Reset': {
      description: 'Seconds until units are available again',
      schema: { type: 'integer', minimum: 0 },
    },
    'RateLimit-Policy': {
      description: 'The quota policy: `<limit>;w=<window seconds>`, e.g. `600;w=60`',
      schema: { type: 'string', pattern: '^\\d+;w=\\d+$' },
    },
  },
  responses: {
    Problem: { description: 'RFC 9457 problem details', content: problemContent },
    ContentTooLarge: {
      description:
        'The body is larger than the route accepts, refused before it is parsed: 16 KiB on `/v1/auth/*`, 1 MiB for JSON, MAX_REQUEST_BYTES for multipart; an uploaded file over the plan’s image size',
      content: problemContent,
    },
    RequestTimeout: {
      description:
        'The request (headers and body) did not arrive within HTTP_REQUEST_TIMEOUT_SECONDS; the server answers without a body and closes the connection',
    },
    TooManyRequests: {
      description:
        'The tenant’s request units for this window are spent (or, on sign-in, too many attempts from this address or for this account); retry after `Retry-After` seconds',
      headers: { 'Retry-After': retryAfter, ...rateLimitHeaders },
      content: problemContent,
    },
    BadGateway: {
      description:
        'The tenant’s object storage answered, but not as S3 does, or refused DeepLens (credentials, access): retrying will not help until its settings are fixed (code `storage_error`)',
      content: problemContent,
    },
    ServiceUnavailable: {
      description:
        'A dependency is unreachable or busy (object storage, database, Kafka), or the read model is being rebuilt from the log; retry after `Retry-After` seconds',
      headers: { 'Retry-After': retryAfter },
      content: problemContent,
    },
  },
  schemas: { Problem: problemSchema },
} as const;

const problem = { $ref: '#/components/responses/Problem' };

/** The error answers every operation can give, by status. */
export const commonProblemResponses = {
  400: problem,
  401: problem,
  403: problem,
  404: problem,
  408: { $ref: '#/components/responses/RequestTimeout' },
  413: { $ref: '#/components/responses/ContentTooLarge' },
  415: problem,
  422: problem,
  429: { $ref: '#/components/responses/TooManyRequests' },
  503: { $ref: '#/components/responses/ServiceUnavailable' },
} as const;

/** Added to the operations that read or write the tenant's object storage. */
export const storageProblemResponses = {
  502: { $ref: '#/components/responses/BadGateway' },
} as const;

/** A plain problem answer for statuses only some operations give (409, 412, 428 …). */
export const problemResponse = problem;
