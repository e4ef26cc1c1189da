import { setTimeout as sleep } from 'node:timers/promises';
import type { RunningDeepLens } from '@deeplens/platform/testing/deeplensProcesses';

async function call<T>(
  url: string,
  init: RequestInit & { json?: unknown; token?: string },
  expect: number,
): Promise<T> {
  const response = await fetch(url, {
    ...init,
    headers: {
      ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      ...(init.json ? { 'content-type': 'application/json' } : {}),
    },
    body: init.json ? JSON.stringify(init.json) : init.body,
  });
  const text = await response.text();
  if (response.status !== expect)
    throw new Error(`${init.method ?? 'GET'} ${url}: ${response.status} ${text}`);
  return (text ? JSON.parse(text) : {}) as T;
}

/** A tenant with a tenant admin and an API key that may upload and read. */
export async function tenantWithKey(deeplens: RunningDeepLens, slug: string) {
  const signIn = async (email: string, password: string) =>
    (
      await call<{ access_token: string }>(
        `${deeplens.writeUrl}/v1/auth/token`,
        { method: 'POST', json: { grant_type: 'password', email, password } },
        200,
      )
    ).access_token;
  const admin = await signIn(deeplens.admin.email, deeplens.admin.password);
  const tenant = await call<{ id: string }>(
    `${deeplens.writeUrl}/v1/tenants`,
    { method: 'POST', token: admin, json: { slug, name: slug, plan: 'pro' } },
    201,
  );
  await call(
    `${deeplens.writeUrl}/v1/users`,
    {
      method: 'POST',
      token: admin,
      json: {
        email: `owner@${slug}.test`,
        password: `${slug} owner password`,
        role: 'tenant_admin',
        tenantId: tenant.id,
      },
    },
    201,
  );
  const owner = await signIn(`owner@${slug}.test`, `${slug} owner password`);
  const key = await call<{ secret: string }>(
    `${deeplens.writeUrl}/v1/tenants/${tenant.id}/api-keys`,
    { method: 'POST', token: owner, json: { scopes: ['images:write', 'images:read', 'search'] } },
    201,
  );
  return { tenantId: tenant.id, apiKey: key.secret, owner };
}

type Listed = { id: string; status: string };

/** Every image of the tenant as the read API lists it (all pages). */
export async function listAllImages(readUrl: string, apiKey: string): Promise<Listed[]> {
  const all: Listed[] = [];
  let cursor: string | null = null;
  do {
    const url: string = `${readUrl}/v1/images?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const response = await fetch(url, { headers: { 'x-api-key': apiKey } });
    if (response.status !== 200) throw new Error(`list: ${response.status} ${await response.text()}`);
    const page = (await response.json()) as { items: Listed[]; nextCursor: string | null };
    all.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return all;
}

/** Waits until the tenant lists exactly `expected` images, all `indexed`. */
export async function waitUntilAllIndexed(
  readUrl: string,
  apiKey: string,
  expected: number,
  timeoutMs: number,
): Promise<Listed[]> {
  const deadline = Date.now() + timeoutMs;
  let images: Listed[] = [];
  while (Date.now() < deadline) {
    images = await listAllImages(readUrl, apiKey).catch(() => images);
    if (images.length >= expected && images.every((i) => i.status === 'indexed')) return images;
    await sleep(500);
  }
  const byStatus = images.reduce<Record<string, number>>(
    (acc, i) => ({ ...acc, [i.status]: (acc[i.status] ?? 0) + 1 }),
    {},
  );
  throw new Error(
    `not all indexed in time: ${images.length}/${expected} listed, ${JSON.stringify(byStatus)}`,
  );
}
