import { setTimeout as sleep } from 'node:timers/promises';
import createClient, { type Middleware } from 'openapi-fetch';
import { readAccessTokenClaims } from './accessTokenClaims.ts';
import { DeepLensApiError, DeepLensClientError, DeepLensTimeoutError, problemOf } from './clientErrors.ts';
import type {
  AcceptedImage,
  Credentials,
  DuplicateGroups,
  Image,
  ImageHistoryEvent,
  ImageHistoryPage,
  ImagePage,
  IssuedApiKey,
  ListImagesOptions,
  NewApiKey,
  NewTenant,
  NewUser,
  SearchOptions,
  SearchResult,
  SimilarOptions,
  Tenant,
  Tokens,
  UploadFile,
  UploadOptions,
  UploadResult,
  Usage,
  User,
} from './clientTypes.ts';
import type { paths as ReadApiPaths } from './generated/readApi.ts';
import type { paths as WriteApiPaths } from './generated/writeApi.ts';
import {
  defaultRetryOptions,
  retryingFetch,
  type FetchFunction,
  type RetryOptions,
} from './retryingFetch.ts';

export type DeepLensClientOptions = {
  /** Base URL of the write API, e.g. `http://127.0.0.1:8080`. */
  writeUrl: string;
  /** Base URL of the read API, e.g. `http://127.0.0.1:8090`. */
  readUrl: string;
  /** An access token (JWT); wins over `apiKey` when both are given. */
  token?: string;
  /** An API key, sent as `X-API-Key`. */
  apiKey?: string;
  /** Another fetch: a test passes a Hono app's `fetch` or a stub; nothing else changes. */
  fetch?: FetchFunction;
  /** How 429s and 503s are retried. */
  retry?: Partial<RetryOptions>;
};

/** Options of a command: a retry with the same key gets the first answer. */
export type CommandOptions = { idempotencyKey?: string };

export type WaitOptions = {
  /** First pause between polls; it doubles up to 2 s. */
  pollIntervalMs?: number;
  /** Told each time an image reaches `indexed` or `failed`. */
  onSettled?: (image: Image) => void;
};

type ApiResult = { data?: unknown; error?: unknown; response: Response };

/**
 * A typed client of both DeepLens APIs. `openapi.write` / `openapi.read` are the raw clients
 * typed from the OpenAPI documents (any endpoint, fully typed requests); the methods are the
 * common tasks, and throw `DeepLensApiError` (with the problem+json) on any error status.
 */
export function createDeepLensClient(options: DeepLensClientOptions) {
  const auth = { token: options.token, apiKey: options.apiKey };
  const fetch = retryingFetch(options.fetch ?? ((request) => globalThis.fetch(request)), {
    ...defaultRetryOptions,
    ...options.retry,
  });
  const authenticate: Middleware = {
    onRequest({ request }) {
      if (auth.token) request.headers.set('authorization', `Bearer ${auth.token}`);
      else if (auth.apiKey) request.headers.set('x-api-key', auth.apiKey);
      return request;
    },
  };
  const write = createClient<WriteApiPaths>({ baseUrl: options.writeUrl, fetch });
  const read = createClient<ReadApiPaths>({ baseUrl: options.readUrl, fetch });
  write.use(authenticate);
  read.use(authenticate);

  const header = (command: CommandOptions = {}) =>
    command.idempotencyKey === undefined ? {} : { 'Idempotency-Key': command.idempotencyKey };

  function toTokens(data: unknown): Tokens {
    const body = data as { access_token: string; expires_in: number; refresh_token?: string };
    return {
      accessToken: body.access_token,
      tokenType: 'Bearer',
      expiresIn: body.expires_in,
      ...(body.refresh_token === undefined ? {} : { refreshToken: body.refresh_token }),
    };
  }

  const client = {
    /** The raw typed clients, for endpoints the methods below do not cover. */
    openapi: { write, read },

    /** Replaces the credentials later requests carry. */
    setAuth(next: { token?: string; apiKey?: string }) {
      auth.token = next.token;
      auth.apiKey = next.apiKey;
    },

    /** The access token later requests carry, if any. */
    get token(): string | undefined {
      return auth.token;
    },

    /** Signs in (password or API key); later requests carry the new access token. */
    async signIn(credentials: Credentials): Promise<Tokens> {
      const body =
        'apiKey' in credentials
          ? { grant_type: 'api_key' as const, api_key: credentials.apiKey }
          : { grant_type: 'password' as const, email: credentials.email, password: credentials.password };
      const tokens = toTokens(
        await expectData('POST /v1/auth/token', write.POST('/v1/auth/token', { body })),
      );
      auth.token = tokens.accessToken;
      return tokens;
    },

    /** Rotates a refresh token; later requests carry the new access token. */
    async refresh(refreshToken: string): Promise<Tokens> {
      const tokens = toTokens(
        await expectData(
          'POST /v1/auth/refresh',
          write.POST('/v1/auth/refresh', { body: { refresh_token: refreshToken } }),
        ),
      );
      auth.token = tokens.accessToken;
      return tokens;
    },

    /** Ends the session of a refresh token. */
    async signOut(refreshToken: string): Promise<void> {
      await expectData(
        'POST /v1/auth/logout',
        write.POST('/v1/auth/logout', { body: { refresh_token: refreshToken } }),
      );
      auth.token = undefined;
    },

    /** Provisions a tenant (platform admin). */
    async createTenant(tenant: NewTenant, command?: CommandOptions): Promise<Tenant> {
      return (await expectData(
        'POST /v1/tenants',
        write.POST('/v1/tenants', { params: { header: header(command) }, body: tenant }),
      )) as Tenant;
    },

    async getTenant(tenantId: string): Promise<Tenant> {
      return (await expectData(
        'GET /v1/tenants/{id}',
        write.GET('/v1/tenants/{id}', { params: { path: { id: tenantId } } }),
      )) as Tenant;
    },

    /** Creates a user (platform admin: any tenant; tenant admin: their own). */
    async createUser(user: NewUser, command?: CommandOptions): Promise<User> {
      return (await expectData(
        'POST /v1/users',
        write.POST('/v1/users', { params: { header: header(command) }, body: user }),
      )) as User;
    },

    /** Issues an API key; its `secret` is in this answer and nowhere else, ever. */
    async createApiKey(tenantId: string, key: NewApiKey, command?: CommandOptions): Promise<IssuedApiKey> {
      return (await expectData(
        'POST /v1/tenants/{id}/api-keys',
        write.POST('/v1/tenants/{id}/api-keys', {
          params: { path: { id: tenantId }, header: header(command) },
          body: key,
        }),
      )) as IssuedApiKey;
    },

    async revokeApiKey(tenantId: string, keyId: string, command?: CommandOptions): Promise<void> {
      await expectData(
        'DELETE /v1/tenants/{id}/api-keys/{keyId}',
        write.DELETE('/v1/tenants/{id}/api-keys/{keyId}', {
          params: { path: { id: tenantId, keyId }, header: header(command) },
        }),
      );
    },

    /**
     * Uploads one or more images in one request (202: stored; embedding follows). With an
     * `idempotencyKey`, repeating the same upload answers the first result (`replayed: true`).
     */
    async uploadImages(files: UploadFile[], upload: UploadOptions = {}): Promise<UploadResult> {
      if (files.length === 0) throw new DeepLensClientError('uploadImages needs at least one file');
      const form = new FormData();
      for (const file of files) {
        form.append(
          'file',
          new Blob([file.bytes], { type: file.type ?? 'application/octet-stream' }),
          file.filename,
        );
      }
      if (upload.tags && upload.tags.length > 0) form.append('tags', JSON.stringify(upload.tags));
      if (upload.attributes && Object.keys(upload.attributes).length > 0)
        form.append('attributes', JSON.stringify(upload.attributes));
      const { data, response } = await answerOf(
        'POST /v1/images',
        write.POST('/v1/images', {
          params: { header: header(upload) },
          // The parts travel in `form`; the typed body only names them.
          body: {} as { file: string[] },
          bodySerializer: () => form,
        }),
      );
      return {
        images: (data as { images: AcceptedImage[] }).images,
        replayed: response.headers.get('idempotent-replayed') === 'true',
      };
    },

    async updateImage(
      imageId: string,
      metadata: { tags?: string[]; attributes?: Record<string, string> },
      command?: CommandOptions,
    ): Promise<void> {
      await expectData(
        'PATCH /v1/images/{id}',
        write.PATCH('/v1/images/{id}', {
          params: { path: { id: imageId }, header: header(command) },
          body: metadata,
        }),
      );
    },

    async deleteImage(imageId: string, command?: CommandOptions): Promise<void> {
      await expectData(
        'DELETE /v1/images/{id}',
        write.DELETE('/v1/images/{id}', { params: { path: { id: imageId }, header: header(command) } }),
      );
    },

    /** An image's metadata and where it stands: uploaded → embedded → indexed, or failed. */
    async getImage(imageId: string): Promise<Image> {
      return (await expectData(
        'GET /v1/images/{id}',
        read.GET('/v1/images/{id}', { params: { path: { id: imageId } } }),
      )) as Image;
    },

    /** One page of the caller's images; pass `nextCursor` back for the next. */
    async listImages(list: ListImagesOptions = {}): Promise<ImagePage> {
      return (await expectData(
        'GET /v1/images',
        read.GET('/v1/images', { params: { query: list } }),
      )) as ImagePage;
    },

    /** Every image matching `list`, page after page. */
    async *allImages(list: Omit<ListImagesOptions, 'cursor'> = {}): AsyncGenerator<Image> {
      let cursor: string | undefined;
      do {
        const page = await client.listImages({ ...list, ...(cursor === undefined ? {} : { cursor }) });
        yield* page.items;
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
    },

    /** One page of an image's history in log order; pass `nextCursor` back for the next. */
    async imageHistoryPage(
      imageId: string,
      page: { cursor?: string; limit?: number } = {},
    ): Promise<ImageHistoryPage> {
      return (await expectData(
        'GET /v1/images/{id}/history',
        read.GET('/v1/images/{id}/history', { params: { path: { id: imageId }, query: page } }),
      )) as ImageHistoryPage;
    },

    /**
     * Every event of an image in log order (who, when, correlation id, what changed), page
     * after page. A deleted image keeps its history until its tenant is erased.
     */
    async imageHistory(imageId: string): Promise<ImageHistoryEvent[]> {
      const events: ImageHistoryEvent[] = [];
      let cursor: string | undefined;
      do {
        const page = await client.imageHistoryPage(imageId, {
          limit: 500,
          ...(cursor === undefined ? {} : { cursor }),
        });
        events.push(...page.items);
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
      return events;
    },

    /**
     * Polls until every image is `indexed` or `failed` and answers them in the order given; a
     * `DeepLensTimeoutError` names those still pending when `timeoutMs` runs out. An image the
     * read model does not show yet (404 just after the upload) counts as pending.
     */
    async waitUntilIndexed(imageIds: string[], timeoutMs = 60_000, wait: WaitOptions = {}): Promise<Image[]> {
      const deadline = Date.now() + timeoutMs;
      const settled = new Map<string, Image>();
      const lastSeen = new Map<string, string>(imageIds.map((id) => [id, 'not visible yet']));
      let pause = wait.pollIntervalMs ?? 250;
      for (;;) {
        // In order, stopping at the first unfinished one: a batch finishes roughly in order, so
        // a long wait costs one request per poll rather than one per image.
        for (const id of imageIds) {
          if (settled.has(id)) continue;
          const image = await client.getImage(id).catch((error: unknown) => {
            if (error instanceof DeepLensApiError && error.status === 404) return undefined;
            throw error;
          });
          if (!image || (image.status !== 'indexed' && image.status !== 'failed')) {
            if (image) lastSeen.set(id, image.status);
            break;
          }
          settled.set(id, image);
          wait.onSettled?.(image);
        }
        if (settled.size === new Set(imageIds).size) return imageIds.map((id) => settled.get(id)!);
        const left = deadline - Date.now();
        if (left <= 0) {
          const pending = imageIds
            .filter((id) => !settled.has(id))
            .map((id) => ({ id, status: lastSeen.get(id) ?? 'unknown' }));
          throw new DeepLensTimeoutError(
            `${pending.length} of ${imageIds.length} images not indexed after ${Math.round(timeoutMs / 1000)}s`,
            pending,
          );
        }
        await sleep(Math.min(pause, left));
        pause = Math.min(2_000, pause * 2);
      }
    },

    /** Images that look like the query image (embedded by the read API, not stored). */
    async searchByImage(
      bytes: Uint8Array,
      search: SearchOptions & { filename?: string; type?: string } = {},
    ): Promise<SearchResult> {
      const form = new FormData();
      form.append(
        'file',
        new Blob([bytes], { type: search.type ?? 'application/octet-stream' }),
        search.filename ?? 'query',
      );
      if (search.k !== undefined) form.append('k', String(search.k));
      if (search.threshold !== undefined) form.append('threshold', String(search.threshold));
      if (search.filter !== undefined) form.append('filter', JSON.stringify(search.filter));
      if (search.model !== undefined) form.append('model', search.model);
      return (await expectData(
        'POST /v1/search',
        read.POST('/v1/search', {
          // The model also goes in the query string, where the read API looks for it in a multipart search.
          ...(search.model === undefined ? {} : { params: { query: { model: search.model } } }),
          body: {},
          bodySerializer: () => form,
        }),
      )) as SearchResult;
    },

    /** Images that look like one of the tenant's images. */
    async searchById(imageId: string, search: SearchOptions = {}): Promise<SearchResult> {
      return (await expectData(
        'POST /v1/search',
        read.POST('/v1/search', { body: { imageId, ...search } }),
      )) as SearchResult;
    },

    /** Nearest neighbours of a raw vector of the model's dimension. */
    async searchByVector(vector: number[], search: SearchOptions = {}): Promise<SearchResult> {
      return (await expectData(
        'POST /v1/search',
        read.POST('/v1/search', { body: { vector, ...search } }),
      )) as SearchResult;
    },

    /** `GET /v1/images/{id}/similar`: look-alikes of an indexed image. */
    async similar(imageId: string, similar: SimilarOptions = {}): Promise<SearchResult> {
      return (await expectData(
        'GET /v1/images/{id}/similar',
        read.GET('/v1/images/{id}/similar', {
          params: { path: { id: imageId }, query: similar },
        }),
      )) as SearchResult;
    },

    /** Groups of near-duplicate images at or above `threshold` cosine similarity. */
    async duplicates(query: { threshold?: number; limit?: number } = {}): Promise<DuplicateGroups> {
      return (await expectData(
        'GET /v1/duplicates',
        read.GET('/v1/duplicates', { params: { query } }),
      )) as DuplicateGroups;
    },

    /**
     * Images and bytes a tenant stores. Without `tenantId`, the caller's own tenant (read from
     * the access token; an API key is exchanged for one first).
     */
    async usage(tenantId?: string): Promise<Usage> {
      const id = tenantId ?? (await callerTenantId());
      return (await expectData(
        'GET /v1/tenants/{id}/usage',
        read.GET('/v1/tenants/{id}/usage', { params: { path: { id } } }),
      )) as Usage;
    },

    /** The WebP thumbnail of an embedded image. */
    async thumbnail(imageId: string): Promise<Uint8Array> {
      const data = await expectData(
        'GET /v1/images/{id}/thumbnail',
        read.GET('/v1/images/{id}/thumbnail', { params: { path: { id: imageId } }, parseAs: 'arrayBuffer' }),
      );
      return new Uint8Array(data as ArrayBuffer);
    },

    /** The original bytes and their content type. */
    async content(imageId: string): Promise<{ bytes: Uint8Array; type: string }> {
      const { data, response } = await answerOf(
        'GET /v1/images/{id}/content',
        read.GET('/v1/images/{id}/content', { params: { path: { id: imageId } }, parseAs: 'arrayBuffer' }),
      );
      return {
        bytes: new Uint8Array(data as ArrayBuffer),
        type: response.headers.get('content-type') ?? 'application/octet-stream',
      };
    },
  };

  async function callerTenantId(): Promise<string> {
    let token = auth.token;
    if (!token && auth.apiKey) {
      const tokens = toTokens(
        await expectData(
          'POST /v1/auth/token',
          write.POST('/v1/auth/token', { body: { grant_type: 'api_key', api_key: auth.apiKey } }),
        ),
      );
      token = tokens.accessToken;
    }
    const tenantId = token ? readAccessTokenClaims(token)?.tenantId : undefined;
    if (!tenantId) throw new DeepLensClientError('the caller belongs to no tenant: name one');
    return tenantId;
  }

  return client;
}

export type DeepLensClient = ReturnType<typeof createDeepLensClient>;

/** The answer of a call, or a `DeepLensApiError` with its problem details. */
async function answerOf(
  request: string,
  call: Promise<ApiResult>,
): Promise<{ data: unknown; response: Response }> {
  const { data, error, response } = await call;
  if (!response.ok)
    throw new DeepLensApiError(problemOf(response.status, response.statusText, error), request);
  return { data, response };
}

async function expectData(request: string, call: Promise<ApiResult>): Promise<unknown> {
  return (await answerOf(request, call)).data;
}
