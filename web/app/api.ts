import createClient, { type Middleware } from 'openapi-fetch';
import { DeepLensApiError, problemOf } from '@deeplens/client/clientErrors';
import type {
  ApiKeyScope,
  DuplicateGroups,
  Image,
  ImageHistoryPage,
  ImagePage,
  IssuedApiKey,
  ListImagesOptions,
  Plan,
  Role,
  SearchOptions,
  SearchResult,
  SimilarOptions,
  Tenant,
  Usage,
  User,
} from '@deeplens/client/clientTypes';
import type { paths as ReadApiPaths } from '@deeplens/client/generated/readApi';
import type { paths as WriteApiPaths } from '@deeplens/client/generated/writeApi';

/** The header the gateway requires on every unsafe request (its CSRF check). */
export const csrfHeader = 'x-deeplens-csrf';

export type Session = {
  signedIn: true;
  email: string | null;
  subject: string;
  tenantId: string | null;
  role: string;
  scopes: string[];
  via: 'password' | 'api_key';
};

const csrf: Middleware = {
  onRequest({ request }) {
    request.headers.set(csrfHeader, '1');
    return request;
  },
};
// The clients typed from the APIs' OpenAPI documents (client/src/generated), pointed at the
// same-origin gateway: the browser sends its session cookie, the gateway adds the Bearer token.
// No credential is ever handed to this code.
const write = createClient<WriteApiPaths>({ baseUrl: `${location.origin}/api/write` });
const read = createClient<ReadApiPaths>({ baseUrl: `${location.origin}/api/read` });
write.use(csrf);
read.use(csrf);

type ApiResult = { data?: unknown; error?: unknown; response: Response };

/** The answer's body, or a `DeepLensApiError` carrying the API's problem+json. */
async function expectData(request: string, call: Promise<ApiResult>): Promise<unknown> {
  const { data, error, response } = await call;
  if (!response.ok)
    throw new DeepLensApiError(problemOf(response.status, response.statusText, error), request);
  return data;
}

const command = (idempotencyKey?: string) =>
  idempotencyKey === undefined ? {} : { 'Idempotency-Key': idempotencyKey };

/** The calls the screens make, with the typed client's names and answer types. */
export const api = {
  async listImages(list: ListImagesOptions = {}): Promise<ImagePage> {
    return (await expectData(
      'GET /v1/images',
      read.GET('/v1/images', { params: { query: list } }),
    )) as ImagePage;
  },
  async getImage(id: string): Promise<Image> {
    return (await expectData(
      'GET /v1/images/{id}',
      read.GET('/v1/images/{id}', { params: { path: { id } } }),
    )) as Image;
  },
  async imageHistory(id: string, page: { cursor?: string; limit?: number } = {}): Promise<ImageHistoryPage> {
    return (await expectData(
      'GET /v1/images/{id}/history',
      read.GET('/v1/images/{id}/history', { params: { path: { id }, query: page } }),
    )) as ImageHistoryPage;
  },
  async similar(id: string, options: SimilarOptions = {}): Promise<SearchResult> {
    return (await expectData(
      'GET /v1/images/{id}/similar',
      read.GET('/v1/images/{id}/similar', { params: { path: { id }, query: options } }),
    )) as SearchResult;
  },
  async searchByImage(
    bytes: Uint8Array<ArrayBuffer>,
    search: SearchOptions & { filename: string; type: string },
  ): Promise<SearchResult> {
    const form = new FormData();
    form.append('file', new Blob([bytes], { type: search.type }), search.filename);
    if (search.k !== undefined) form.append('k', String(search.k));
    if (search.threshold !== undefined) form.append('threshold', String(search.threshold));
    if (search.filter !== undefined) form.append('filter', JSON.stringify(search.filter));
    return (await expectData(
      'POST /v1/search',
      read.POST('/v1/search', { body: {}, bodySerializer: () => form }),
    )) as SearchResult;
  },
  async updateImage(
    id: string,
    metadata: { tags?: string[]; attributes?: Record<string, string> },
    options: { idempotencyKey?: string } = {},
  ): Promise<void> {
    await expectData(
      'PATCH /v1/images/{id}',
      write.PATCH('/v1/images/{id}', {
        params: { path: { id }, header: command(options.idempotencyKey) },
        body: metadata,
      }),
    );
  },
  async deleteImage(id: string, options: { idempotencyKey?: string } = {}): Promise<void> {
    await expectData(
      'DELETE /v1/images/{id}',
      write.DELETE('/v1/images/{id}', { params: { path: { id }, header: command(options.idempotencyKey) } }),
    );
  },
  async createApiKey(
    tenantId: string,
    key: { scopes: ApiKeyScope[]; name?: string },
    options: { idempotencyKey?: string } = {},
  ): Promise<IssuedApiKey> {
    return (await expectData(
      'POST /v1/tenants/{id}/api-keys',
      write.POST('/v1/tenants/{id}/api-keys', {
        params: { path: { id: tenantId }, header: command(options.idempotencyKey) },
        body: key,
      }),
    )) as IssuedApiKey;
  },
  async revokeApiKey(
    tenantId: string,
    keyId: string,
    options: { idempotencyKey?: string } = {},
  ): Promise<void> {
    await expectData(
      'DELETE /v1/tenants/{id}/api-keys/{keyId}',
      write.DELETE('/v1/tenants/{id}/api-keys/{keyId}', {
        params: { path: { id: tenantId, keyId }, header: command(options.idempotencyKey) },
      }),
    );
  },
  async duplicates(query: { threshold?: number; limit?: number } = {}): Promise<DuplicateGroups> {
    return (await expectData(
      'GET /v1/duplicates',
      read.GET('/v1/duplicates', { params: { query } }),
    )) as DuplicateGroups;
  },
  async createUser(
    user: { email: string; password: string; role: Role; tenantId?: string | null },
    options: { idempotencyKey?: string } = {},
  ): Promise<User> {
    return (await expectData(
      'POST /v1/users',
      write.POST('/v1/users', { params: { header: command(options.idempotencyKey) }, body: user }),
    )) as User;
  },
  async createTenant(
    tenant: { slug: string; name: string; plan?: Plan },
    options: { idempotencyKey?: string } = {},
  ): Promise<Tenant> {
    return (await expectData(
      'POST /v1/tenants',
      write.POST('/v1/tenants', { params: { header: command(options.idempotencyKey) }, body: tenant }),
    )) as Tenant;
  },
  async getTenant(id: string): Promise<Tenant> {
    return (await expectData(
      'GET /v1/tenants/{id}',
      write.GET('/v1/tenants/{id}', { params: { path: { id } } }),
    )) as Tenant;
  },
  async setTenantStatus(
    id: string,
    change: { status: 'active' } | { status: 'suspended'; reason: string },
    options: { idempotencyKey?: string } = {},
  ): Promise<Tenant> {
    return (await expectData(
      'PATCH /v1/tenants/{id}',
      write.PATCH('/v1/tenants/{id}', {
        params: { path: { id }, header: command(options.idempotencyKey) },
        body: change,
      }),
    )) as Tenant;
  },
  async deleteTenant(id: string, options: { idempotencyKey?: string } = {}): Promise<void> {
    await expectData(
      'DELETE /v1/tenants/{id}',
      write.DELETE('/v1/tenants/{id}', { params: { path: { id }, header: command(options.idempotencyKey) } }),
    );
  },
  async usage(tenantId: string): Promise<Usage> {
    return (await expectData(
      'GET /v1/tenants/{id}/usage',
      read.GET('/v1/tenants/{id}/usage', { params: { path: { id: tenantId } } }),
    )) as Usage;
  },
};

/** Where an API's `/v1/…` URL (a thumbnail, the content) is reached through the gateway. */
export const viaGateway = (api: 'read' | 'write', path: string) => `/api/${api}${path}`;

async function sessionCall(method: 'GET' | 'POST' | 'DELETE', body?: unknown): Promise<Response> {
  return fetch('/api/session', {
    method,
    headers: { [csrfHeader]: '1', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

export async function currentSession(): Promise<Session | undefined> {
  const answer = await sessionCall('GET');
  const body = (await answer.json()) as Session | { signedIn: false };
  return body.signedIn ? body : undefined;
}

export async function signIn(credentials: { email: string; password: string } | { apiKey: string }) {
  const answer = await sessionCall('POST', credentials);
  const body = (await answer.json().catch(() => ({}))) as Record<string, unknown>;
  if (!answer.ok) {
    if (answer.status === 401) throw new Error('That e-mail and password (or API key) were not accepted.');
    if (answer.status === 429) throw new Error('Too many attempts: wait a minute and try again.');
    const detail = body['detail'] ?? body['title'];
    throw new Error(typeof detail === 'string' ? detail : `sign-in failed (${answer.status})`);
  }
  return body as Session;
}

export async function signOut(): Promise<void> {
  await sessionCall('DELETE');
}

/** A refusal in words, from the API's problem+json. */
export function describeError(error: unknown): string {
  if (error instanceof DeepLensApiError) {
    const { problem } = error;
    const detail = problem.detail ?? problem.title;
    return `${detail}${error.status ? ` (${error.status})` : ''}`;
  }
  return error instanceof Error ? error.message : String(error);
}

export function isUnauthorized(error: unknown): boolean {
  return error instanceof DeepLensApiError && error.status === 401;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
