/**
 * What the convenience methods take and return. The generated `paths` types (in `generated/`)
 * type every request; both APIs' answers below are their generated schemas themselves (each
 * document is generated from the zod schemas its routes answer by, members the servers always
 * set are required there). `Tokens` is the client's own camelCase view of the token answer.
 */
import type { components as ReadApi, paths as ReadApiPaths } from './generated/readApi.ts';
import type { components as WriteApi, paths as WriteApiPaths } from './generated/writeApi.ts';

/** The read API's answers, as its document (generated from the routes' zod schemas) declares them. */
type ReadSchemas = ReadApi['schemas'];
/** The query parameters a read API GET takes. */
type ReadQuery<P extends keyof ReadApiPaths> = ReadApiPaths[P]['get'] extends {
  parameters: { query?: infer Q };
}
  ? NonNullable<Q>
  : never;
/** The JSON body of `POST /v1/search`. */
type SearchBody = ReadApiPaths['/v1/search']['post']['requestBody']['content']['application/json'];

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
export type ImageStatus = ReadSchemas['Image']['status'];

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

/** An image: its status (uploaded → embedded → indexed, or failed with a reason) and metadata. */
export type Image = ReadSchemas['Image'];

export type ImagePage = ReadSchemas['ImagePage'];

/** A field an event changed. */
export type HistoryChange<T> = { before: T; after: T };

/** One event of an image's history (`GET /v1/images/{id}/history`). */
export type ImageHistoryEvent = ReadSchemas['ImageHistoryEvent'];

export type ImageHistoryPage = ReadSchemas['ImageHistoryPage'];

export type ListImagesOptions = ReadQuery<'/v1/images'>;

export type SearchFilter = ReadSchemas['Filter'];

/** `k`, `threshold`, `filter`, `model` (`modelId@version`; the read API's default when left out), `rerank`. */
export type SearchOptions = Omit<SearchBody, 'imageId' | 'vector'>;

type RankFacts = 'rankedBy' | 'verified' | 'inliers';
/**
 * A hit: its score, what put it at its rank (`rankedBy`) and whether it was verified. Today's
 * read API always sets those three; they stay optional here since servers older than them
 * leave them out.
 */
export type SearchHit = Omit<ReadSchemas['Hit'], RankFacts> & Partial<Pick<ReadSchemas['Hit'], RankFacts>>;

export type SearchResult = Omit<ReadSchemas['SearchResult'], 'hits'> & { hits: SearchHit[] };

export type SimilarOptions = ReadQuery<'/v1/images/{id}/similar'>;

export type DuplicateGroups = ReadSchemas['DuplicateGroups'];

/** Images and bytes a tenant stores, with its plan and the plan's limits. */
export type Usage = ReadSchemas['Usage'];
