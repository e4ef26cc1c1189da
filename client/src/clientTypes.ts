/**
 * What the convenience methods take and return. The generated `paths` types (in `generated/`)
 * type every request; these are the answers as the routes actually send them, with the members
 * the servers always set marked required (the OpenAPI documents leave most of them optional).
 */
import type { components as WriteApi, paths as WriteApiPaths } from './generated/writeApi.ts';

/** The write API's answers, as its document (generated from the routes' zod schemas) declares them. */
type WriteSchemas = WriteApi['schemas'];
/** The JSON body a write API operation takes. */
type WriteBody<P extends keyof WriteApiPaths, M extends 'post' | 'put' | 'patch'> = NonNullable<
  WriteApiPaths[P][M]
>['requestBody'] extends infer B
  ? B extends { content: { 'application/json': infer J } }
    ? J
    : never
  : never;

export type Plan = WriteSchemas['Tenant']['plan'];
export type Role = WriteSchemas['User']['role'];
export type ApiKeyScope = WriteSchemas['IssuedApiKey']['scopes'][number];
export const apiKeyScopes: readonly ApiKeyScope[] = ['images:read', 'images:write', 'search'];
export type ImageStatus = 'uploaded' | 'embedded' | 'indexed' | 'failed';

export type Tokens = {
  accessToken: string;
  tokenType: 'Bearer';
  /** Seconds the access token is valid for. */
  expiresIn: number;
  /** Only for a password sign-in; an API key simply signs in again. */
  refreshToken?: string;
};

export type Credentials = { email: string; password: string } | { apiKey: string };

export type TenantLimits = WriteSchemas['Limits'];

/** A tenant's own storage as the write API shows it: its kind and place, never a secret. */
export type TenantStorage = WriteSchemas['TenantStorage'];

export type Tenant = WriteSchemas['Tenant'];

/** `isolation: 'dedicated'` (enterprise): the tenant's metadata in a database of its own, on a configured server. */
export type NewTenant = WriteBody<'/v1/tenants', 'post'>;

export type User = WriteSchemas['User'];

export type NewUser = WriteBody<'/v1/users', 'post'>;

/** `secret` is the whole key: shown once, never retrievable again. */
export type IssuedApiKey = WriteSchemas['IssuedApiKey'];

export type NewApiKey = WriteBody<'/v1/tenants/{id}/api-keys', 'post'>;

/** One file to upload. */
export type UploadFile = { filename: string; bytes: Uint8Array; type?: string };

export type UploadOptions = {
  tags?: string[];
  attributes?: Record<string, string>;
  /** A retry with the same key (and the same request) gets the first answer, not a second image. */
  idempotencyKey?: string;
};

export type AcceptedImage = WriteSchemas['AcceptedImages']['images'][number];

export type UploadResult = {
  images: AcceptedImage[];
  /** True when the server answered from its idempotency record: nothing new was stored. */
  replayed: boolean;
};

export type Image = {
  id: string;
  status: ImageStatus;
  failure: { reason: string } | null;
  filename: string;
  mime: string;
  bytes: number;
  width: number;
  height: number;
  sha256: string;
  tags: string[];
  attributes: Record<string, string>;
  thumbnailUrl: string | null;
  contentUrl: string;
  uploadedAt: string;
  updatedAt: string;
};

export type ImagePage = { items: Image[]; nextCursor: string | null };

/** A field an event changed. */
export type HistoryChange<T> = { before: T; after: T };

/** One event of an image's history (`GET /v1/images/{id}/history`). */
export type ImageHistoryEvent = {
  /** The image's version after the event: 1, 2, 3 … in log order. */
  version: number;
  eventId: string;
  type:
    | 'ImageUploaded'
    | 'ImageEmbedded'
    | 'ImageEmbeddingFailed'
    | 'ThumbnailGenerated'
    | 'ImageMetadataUpdated'
    | 'ImageDeleted';
  occurredAt: string;
  /** Who caused it: a user, an API key, an intake key, or one of DeepLens's processes. */
  actor: { kind: 'user' | 'apiKey' | 'intake' | 'system'; id: string | null };
  correlationId: string;
  causationId: string | null;
  /** Only what the event changed. */
  changes: {
    status?: HistoryChange<'uploaded' | 'embedded' | 'failed' | 'deleted' | null>;
    tags?: HistoryChange<string[] | null>;
    attributes?: HistoryChange<Record<string, string> | null>;
  };
  /** What the event says besides (an embedding's model and dim, an upload's file facts, …). */
  details: Record<string, unknown>;
  /** `topic:partition:offset` of the event in Kafka. */
  logPosition: string;
};

export type ImageHistoryPage = { imageId: string; items: ImageHistoryEvent[]; nextCursor: string | null };

export type ListImagesOptions = { cursor?: string; limit?: number; tag?: string; status?: ImageStatus };

export type SearchFilter = { tags?: string[]; attributes?: Record<string, string> };

export type SearchOptions = {
  k?: number;
  threshold?: number;
  filter?: SearchFilter;
  /** `modelId@version`; the read API's default model when left out. */
  model?: string;
};

export type SearchHit = {
  imageId: string;
  score: number;
  filename: string;
  tags: string[];
  attributes: Record<string, string>;
  thumbnailUrl: string | null;
  contentUrl: string;
  /**
   * `geometric`: local features verified it as the query's picture (most inliers first);
   * `perceptual-hash`: an edited copy of the query image, ranked first; `descriptor`: ranked by
   * similarity alone. Absent from servers older than it.
   */
  rankedBy?: 'geometric' | 'perceptual-hash' | 'descriptor';
  /** Geometric verification found the same picture (a crop, frame, overlay or re-encoding). */
  verified?: boolean;
  /** Keypoint matches one similarity transform explains; 0 when not compared. */
  inliers?: number;
};

export type SearchResult = {
  model: { modelId: string; modelVersion: string };
  hits: SearchHit[];
};

export type SimilarOptions = { k?: number; threshold?: number; tag?: string; model?: string };

export type DuplicateGroups = { groups: { images: { imageId: string; filename: string }[] }[] };

export type Usage = {
  tenantId: string;
  images: number;
  bytes: number;
  plan?: string;
  limits?: Partial<TenantLimits>;
};
