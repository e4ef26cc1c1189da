import { loadConfig } from '@deeplens/platform/config';
import { createKafka } from '@deeplens/platform/kafka';
import { deeplensEntryPoints, type RunningDeepLens } from '@deeplens/platform/testing/deeplensProcesses';

/** The HTTP calls the benchmarks make against a running DeepLens, as a client would. */
export type Call = (method: string, path: string, body?: unknown) => Promise<Response>;

export function api(base: string, token?: string): Call {
  return (method, path, body) =>
    fetch(`${base}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined && !(body instanceof FormData) ? { 'content-type': 'application/json' } : {}),
      },
      body: body === undefined ? undefined : body instanceof FormData ? body : JSON.stringify(body),
    });
}

export async function json<T>(response: Response, status = 200): Promise<T> {
  const text = await response.text();
  if (response.status !== status)
    throw new Error(`expected HTTP ${status}, got ${response.status}: ${text.slice(0, 500)}`);
  return JSON.parse(text) as T;
}

export async function signIn(writeUrl: string, email: string, password: string): Promise<string> {
  const body = await json<{ access_token: string }>(
    await api(writeUrl)('POST', '/v1/auth/token', { grant_type: 'password', email, password }),
  );
  return body.access_token;
}

/** An enterprise tenant (no plan limit in the way) with a signed-in tenant user. */
export async function benchTenant(deeplens: RunningDeepLens, slug: string) {
  const admin = api(
    deeplens.writeUrl,
    await signIn(deeplens.writeUrl, deeplens.admin.email, deeplens.admin.password),
  );
  const tenant = await json<{ id: string }>(
    await admin('POST', '/v1/tenants', { slug, name: slug, plan: 'enterprise' }),
    201,
  );
  const email = `bench@${slug}.test`;
  const password = `${slug} bench password`;
  await json(
    await admin('POST', '/v1/users', { email, password, role: 'tenant_user', tenantId: tenant.id }),
    201,
  );
  const token = await signIn(deeplens.writeUrl, email, password);
  return { id: tenant.id, write: api(deeplens.writeUrl, token), read: api(deeplens.readUrl, token) };
}

/** Uploads one JPEG (a multipart request, as clients send it); the image id of the 202. */
export async function uploadImage(write: Call, bytes: Buffer, name: string): Promise<string> {
  const form = new FormData();
  form.append('file', new Blob([bytes], { type: 'image/jpeg' }), name);
  const body = await json<{ images: { id: string }[] }>(await write('POST', '/v1/images', form), 202);
  return body.images[0]!.id;
}

/** How many of the tenant's images are `indexed` (searchable), paging the read API's listing. */
export async function countIndexed(read: Call): Promise<number> {
  let count = 0;
  let cursor: string | null = null;
  do {
    const query: string = `/v1/images?status=indexed&limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page = await json<{ items: unknown[]; nextCursor: string | null }>(await read('GET', query));
    count += page.items.length;
    cursor = page.nextCursor;
  } while (cursor);
  return count;
}

/** Deletes the Kafka topics a `startDeepLens` run created (they carry its topic prefix). */
export async function deleteTopicsWithPrefix(prefix: string): Promise<void> {
  const kafka = createKafka(loadConfig(), 'bench-cleanup');
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (topics.length > 0) await admin.deleteTopics({ topics });
  } finally {
    await admin.disconnect();
  }
}

/** The DeepLens process name (`write-api`, `embedder`…) of an entry point's path. */
export function processNameOf(entry: string): string {
  return Object.entries(deeplensEntryPoints).find(([, path]) => path === entry)?.[0] ?? entry;
}

/** The sum over every series of one Prometheus metric (e.g. `…_batch_size_sum`) a process exposes. */
export async function scrapeMetric(metricsUrl: string, name: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) total += Number(line.split(' ').at(-1));
  }
  return total;
}
