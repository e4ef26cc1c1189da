/**
 * What the convenience methods take and return. The generated `paths` types (in `generated/`)
 * type every request; these are the answers as the routes actually send them, with the members
 * the servers always set marked required (the OpenAPI documents leave most of them optional).
 */
export type Plan = 'free' | 'pro' | 'enterprise';
export type Role = 'platform_admin' | 'tenant_admin' | 'tenant_user';
export type ApiKeyScope = 'images:read' | 'images:write' | 'search';
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

export type TenantLimits = {
  maxImages: number;
  maxBytes: number;
  maxImageBytes: number;
  requestsPerMinute: number;
};

export type Tenant = {
  id: string;
  slug: string;
  name: string;
  plan: Plan;
  status: 'active' | 'suspended';
  limits: TenantLimits;
  isolation?: 'shared' | 'dedicated';
  databaseTarget?: string;
  version: number;
};

export type NewTenant = {
  slug: string;
  name: string;
  plan?: Plan;
  limits?: TenantLimits;
  /** Enterprise: the tenant's metadata in a database of its own, on a configured server. */
  isolation?: 'shared' | 'dedicated';
  databaseTarget?: string;
};

export type User = { id: string; email: string; role: Role; tenantId: string | null };

export type NewUser = { email: string; password: string; role: Role; tenantId?: string | null };

export type IssuedApiKey = {
  id: string;
  name: string;
  prefix: string;
  /** The whole key: shown once, never retrievable again. */
  secret: string;
  scopes: ApiKeyScope[];
  expiresAt: string | null;
};

export type NewApiKey = { scopes: ApiKeyScope[]; name?: string; expiresAt?: string };

/** One file to upload. */
export type UploadFile = { filename: string; bytes: Uint8Array; type?: string };

export type UploadOptions = {
  tags?: string[];
  attributes?: Record<string, string>;
  /** A retry with the same key (and the same request) gets the first answer, not a second image. */
  idempotencyKey?: string;
};

export type AcceptedImage = {
  id: string;
  status: 'uploaded';
  filename: string;
  mime: string;
  bytes: number;
  width: number;
  height: number;
  sha256: string;
  tags: string[];
  attributes: Record<string, string>;
  location: string;
};

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
